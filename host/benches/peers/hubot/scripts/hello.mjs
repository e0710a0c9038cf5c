// Description:
//   sandbot's example `hello` skill (example-skills/hello), as a Hubot
//   script: a greeting alone answered with the same greeting, capitalised,
//   and the sender's name ("hello" from alice → "Hello alice").
//
// Commands:
//   hi | hello | hey | hallo - I greet you back

export default robot => {
  robot.hear(/^(hi|hello|hey|hallo)$/i, res => {
    const greeting = res.match[1].toLowerCase()
    res.send(`${greeting[0].toUpperCase()}${greeting.slice(1)} ${res.message.user.name}`)
  })
}
