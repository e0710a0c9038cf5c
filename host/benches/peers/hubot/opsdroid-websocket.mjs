// A Hubot 14 adapter that speaks opsdroid's websocket protocol, as sandbot's
// websocket connector does, so that the load client of
// `cargo bench -p sandbot --bench web` drives Hubot and sandbot unchanged:
//
// - `POST /connector/websocket` → `200 {"socket": "<id>"}` (429 past
//   HUBOT_WEBSOCKET_MAX_CONNECTIONS open or waiting sockets);
// - `GET /connector/websocket/<id>` upgrades to a websocket, within
//   HUBOT_WEBSOCKET_CONNECTION_TIMEOUT seconds of the POST (opsdroid's 60);
// - client frames are `{"message": …, "user": …, "socket": …}` or plain
//   text; the bot answers with plain text frames on the same socket.
//
// Each socket is a room (its id), and the user's id is the socket's id, as
// in sandbot. Loaded with `hubot --disable-httpd --file opsdroid-websocket.mjs`:
// Hubot opens no HTTP listener of its own; this adapter's is on
// 127.0.0.1:HUBOT_WEBSOCKET_PORT, and it listens only once the scripts have
// loaded, so a client that can connect is answered.

import http from 'node:http'
import { randomUUID } from 'node:crypto'
import { Adapter, TextMessage } from 'hubot'
import { WebSocketServer } from 'ws'

const PREFIX = '/connector/websocket'

class OpsdroidWebsocket extends Adapter {
  constructor (robot) {
    super(robot)
    this.port = Number(process.env.HUBOT_WEBSOCKET_PORT || 8080)
    this.maxConnections = Number(process.env.HUBOT_WEBSOCKET_MAX_CONNECTIONS || 10)
    this.connectionTimeoutMs = 1000 * Number(process.env.HUBOT_WEBSOCKET_CONNECTION_TIMEOUT || 60)
    // Socket ids handed out by a POST and not yet upgraded: id → when.
    this.waiting = new Map()
    // Open sockets: id → ws.
    this.sockets = new Map()
    this.server = null
  }

  async send (envelope, ...strings) {
    const ws = this.sockets.get(envelope.room)
    if (!ws) return
    for (const text of strings) ws.send(text)
  }

  async reply (envelope, ...strings) {
    return this.send(envelope, ...strings.map(s => `${envelope.user.name}: ${s}`))
  }

  async run () {
    const wss = new WebSocketServer({ noServer: true })
    this.server = http.createServer((req, res) => this.named(req, res))
    this.server.on('upgrade', (req, socket, head) => {
      const id = this.upgradable(req)
      if (!id) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
        return
      }
      wss.handleUpgrade(req, socket, head, ws => this.opened(id, ws))
    })
    this.robot.on('scripts have loaded', () => {
      this.server.listen(this.port, '127.0.0.1', () => {
        this.robot.logger.info(`opsdroid websocket on 127.0.0.1:${this.port}${PREFIX}`)
      })
    })
    this.emit('connected')
  }

  close () {
    this.server?.close()
    for (const ws of this.sockets.values()) ws.terminate()
    super.close()
  }

  // `POST /connector/websocket`: a new socket's id.
  named (req, res) {
    if (req.method !== 'POST' || req.url !== PREFIX) {
      res.writeHead(404).end()
      return
    }
    const now = Date.now()
    for (const [id, at] of this.waiting) {
      if (now - at > this.connectionTimeoutMs) this.waiting.delete(id)
    }
    if (this.waiting.size + this.sockets.size >= this.maxConnections) {
      res.writeHead(429, { 'content-type': 'text/plain' }).end('too many connections')
      return
    }
    const id = randomUUID()
    this.waiting.set(id, now)
    const body = JSON.stringify({ socket: id })
    // A length, not chunks: the bench's client reads the body as it is.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
  }

  // The id of `GET /connector/websocket/<id>` if a POST named it in time.
  upgradable (req) {
    if (req.method !== 'GET' || !req.url.startsWith(`${PREFIX}/`)) return null
    const id = req.url.slice(PREFIX.length + 1)
    const at = this.waiting.get(id)
    if (at === undefined) return null
    this.waiting.delete(id)
    return Date.now() - at <= this.connectionTimeoutMs ? id : null
  }

  opened (id, ws) {
    this.sockets.set(id, ws)
    ws.on('close', () => this.sockets.delete(id))
    ws.on('error', () => ws.terminate())
    let n = 0
    ws.on('message', (data, isBinary) => {
      if (isBinary) return
      const text = data.toString()
      let message = text
      let name = 'user'
      if (text.trimStart().startsWith('{')) {
        let frame
        try {
          frame = JSON.parse(text)
        } catch (e) {
          ws.send(`⚠ that frame is not JSON the bot reads: ${e.message}`)
          return
        }
        if (frame.socket && frame.socket !== id) {
          ws.send(`⚠ this is socket ${id}; that frame is for another`)
          return
        }
        message = String(frame.message ?? '')
        if (typeof frame.user === 'string' && frame.user.trim()) name = frame.user
      }
      message = message.trim()
      if (!message) return
      n += 1
      const user = this.robot.brain.userForId(id, { name, room: id })
      this.receive(new TextMessage(user, message, `${id}-${n}`)).catch(e => {
        this.robot.logger.error(`socket ${id}: ${e.stack}`)
      })
    })
  }
}

export default {
  use (robot) {
    return new OpsdroidWebsocket(robot)
  }
}
