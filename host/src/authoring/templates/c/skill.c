// {{name}}: a sandbot skill in C. Say `{{name}}` (or `{{name}} something`).
// `sandbot skill build` generates skill.h/skill.c from wit/ with
// `wit-bindgen c`, compiles with clang and makes the component with `jco new`.
#include "skill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exports_skill_describe(skill_manifest_t *ret) {
    // Everything returned is freed by the bindings after the call: duplicate.
    skill_string_dup(&ret->name, "{{name}}");
    skill_string_dup(&ret->version, "0.1.0");
    skill_string_dup(&ret->description, "What {{name}} does");
    ret->matchers.len = 1;
    ret->matchers.ptr = calloc(1, sizeof(sandbot_skill_types_matcher_t));
    sandbot_skill_types_matcher_t *m = &ret->matchers.ptr[0];
    skill_string_dup(&m->id, "main");
    m->kind.tag = SANDBOT_SKILL_TYPES_MATCHER_KIND_REGEX;
    skill_string_dup(&m->kind.val.regex.pattern, "^{{name}}(?:\\s+(?P<rest>.+))?$");
    m->kind.val.regex.case_sensitive = false;
    skill_string_dup(&m->help, "{{name}} [text] — answers you");
}

static const skill_string_t *capture(const skill_captures_t *captures, const char *name) {
    for (size_t i = 0; i < captures->len; i++) {
        const skill_string_t *n = &captures->ptr[i].f0;
        if (n->len == strlen(name) && memcmp(n->ptr, name, n->len) == 0)
            return &captures->ptr[i].f1;
    }
    return NULL;
}

bool exports_skill_handle(skill_event_t *event, skill_string_t *matcher_id,
                          skill_captures_t *captures, skill_string_t *err) {
    bool ok = true;
    if (event->tag == SANDBOT_SKILL_TYPES_EVENT_MESSAGE) {
        const skill_string_t *user = &event->val.message.user;
        const skill_string_t *rest = capture(captures, "rest");
        char text[512];
        if (rest != NULL)
            snprintf(text, sizeof text, "{{name}} heard %.*s, %.*s", (int)rest->len,
                     (const char *)rest->ptr, (int)user->len, (const char *)user->ptr);
        else
            snprintf(text, sizeof text, "Hello from {{name}}, %.*s", (int)user->len,
                     (const char *)user->ptr);
        skill_string_t answer, chat_err;
        skill_string_set(&answer, text); // borrowed by the import
        if (!sandbot_skill_chat_respond(&answer, &chat_err)) {
            *err = chat_err; // ownership passes to the bot
            ok = false;
        }
    }
    // Arguments are the callee's to free.
    skill_event_free(event);
    skill_string_free(matcher_id);
    skill_captures_free(captures);
    return ok;
}
