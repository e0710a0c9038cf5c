// greet: the operator's greeting, in C, for whoever says `greet`:
//
//   skills:
//     greet:
//       greeting: Bonjour     # required
//       punctuation: "!"      # optional [default: .]
//
//   greet   -> Bonjour, alice!
//
// It declares the two settings it reads (world `skill-with-settings`, see
// docs/skills/index.md): the bot refuses a misspelt key in its section
// (`greting:`) and a missing `greeting`, with their line, before the skill
// ever runs. Built by example-skills/lang-skills.sh, which reads the world
// from the file `world` beside this one.
#include "skill_with_settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef skill_with_settings_string_t string_t;

void exports_skill_with_settings_describe(skill_with_settings_manifest_t *ret) {
    // Everything returned to the host is freed after the call: duplicate.
    skill_with_settings_string_dup(&ret->name, "greet");
    skill_with_settings_string_dup(&ret->version, "0.1.0");
    skill_with_settings_string_dup(&ret->description, "Greets with the operator's words (a C skill)");
    ret->matchers.len = 1;
    ret->matchers.ptr = calloc(1, sizeof(sandbot_skill_types_matcher_t));
    sandbot_skill_types_matcher_t *m = &ret->matchers.ptr[0];
    skill_with_settings_string_dup(&m->id, "greet");
    m->kind.tag = SANDBOT_SKILL_TYPES_MATCHER_KIND_REGEX;
    skill_with_settings_string_dup(&m->kind.val.regex.pattern, "^greet$");
    m->kind.val.regex.case_sensitive = false;
    skill_with_settings_string_dup(&m->help, "greet — I greet you with the configured words");
}

static void setting(skill_with_settings_setting_t *s, const char *name, const char *help,
                    bool required) {
    skill_with_settings_string_dup(&s->name, name);
    skill_with_settings_string_dup(&s->help, help);
    s->required = required;
}

// `true`: `ret` is the whole list (`some`); `false` would say nothing.
bool exports_skill_with_settings_settings(skill_with_settings_list_setting_t *ret) {
    ret->len = 2;
    ret->ptr = calloc(2, sizeof(skill_with_settings_setting_t));
    setting(&ret->ptr[0], "greeting", "what to say before the name, e.g. Bonjour", true);
    setting(&ret->ptr[1], "punctuation", "what ends the greeting [default: .]", false);
    return true;
}

// A setting's value (`fallback` when absent), or false with `err` set.
static bool get(const char *key, const char *fallback, char *out, size_t len, string_t *err) {
    string_t k;
    skill_with_settings_string_set(&k, key);
    skill_with_settings_option_string_t value;
    if (!sandbot_skill_config_get(&k, &value, err))
        return false;
    if (value.is_some)
        snprintf(out, len, "%.*s", (int)value.val.len, (const char *)value.val.ptr);
    else
        snprintf(out, len, "%s", fallback);
    skill_with_settings_option_string_free(&value);
    return true;
}

bool exports_skill_with_settings_handle(skill_with_settings_event_t *event, string_t *matcher_id,
                                        skill_with_settings_captures_t *captures, string_t *err) {
    bool ok = true;
    if (event->tag == SANDBOT_SKILL_TYPES_EVENT_MESSAGE) {
        char greeting[128], punctuation[16], text[300];
        ok = get("greeting", "Hello", greeting, sizeof greeting, err) &&
             get("punctuation", ".", punctuation, sizeof punctuation, err);
        if (ok) {
            const string_t *user = &event->val.message.user;
            snprintf(text, sizeof text, "%s, %.*s%s", greeting, (int)user->len,
                     (const char *)user->ptr, punctuation);
            string_t answer;
            skill_with_settings_string_set(&answer, text); // borrowed by the import
            ok = sandbot_skill_chat_respond(&answer, err);
        }
    }
    // Arguments are the callee's to free.
    skill_with_settings_event_free(event);
    skill_with_settings_string_free(matcher_id);
    skill_with_settings_captures_free(captures);
    return ok;
}
