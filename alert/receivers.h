/*
 * receivers.h - notification receivers as Alertmanager configures them:
 * the `receivers:` section decoded and checked, and for one group's
 * notification the HTTP request each integration sends and the reading of
 * the answer.
 *
 * Supported integrations are Alertmanager's webhook_configs, slack_configs
 * (Slack and the chat servers that take its incoming-webhook format:
 * Mattermost, Rocket.Chat), discord_configs and telegram_configs with
 * Alertmanager 0.25+'s keys, defaults and payloads, and promlite's own
 * dingtalk_configs, wecom_configs and feishu_configs for the group robots
 * of DingTalk, WeCom (WeChat Work) and Feishu (Lark).  Alertmanager's other
 * integrations are refused by name ("\"email_configs\" is not supported by
 * promlite"), never ignored.
 *
 * The module does no I/O on the network: receiver_build() turns a
 * notification into a receiver_request (method, URL, headers, body) that
 * the notifier sends with its HTTP client, and receiver_classify() turns
 * the response into a receiver_outcome (delivered, or failed with a
 * message and whether a retry may help).  That split keeps every payload
 * testable byte for byte and leaves connections, timeouts and retry
 * scheduling to the notifier.
 *
 * Message texts (Slack's title and text, Telegram's message, ...) are Go
 * templates executed over Alertmanager's template data (.Receiver,
 * .Status, .Alerts, .GroupLabels, .CommonLabels, .CommonAnnotations,
 * .ExternalURL); the defaults are Alertmanager's default.tmpl definitions
 * plus promlite's for its own integrations, so a user who overrides one
 * writes the same language and may call the same named templates.
 *
 * Ownership: receivers_decode() allocates everything a receiver_set
 * points to (strings, arrays, parsed templates) in the loader's arena:
 * the set lives exactly as long as that arena (yt_arena_free releases it,
 * parsed templates included).  A receiver_request owns its strings and is
 * released by receiver_request_free().  am_message and am_alert only point
 * at the caller's memory.
 * Threads: decoding touches no shared state.  A decoded set is read-only:
 * any number of threads may build requests and classify answers with it
 * at once.  receiver_build() and receiver_classify() keep no state between
 * calls; building reads the *_file settings (url_file, bot_token_file,
 * password_file, ...) each time, as Alertmanager does, so a rotated secret
 * is picked up by the next notification.
 */
#ifndef PROMLITE_ALERT_RECEIVERS_H
#define PROMLITE_ALERT_RECEIVERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/util.h"
#include "common/yamltree.h"
#include "ingest/config.h"

/* ------------------------------------------------------------ notification data */

/* One alert as Alertmanager holds it. */
typedef struct am_alert {
    const label *labels;            /* sorted by name */
    size_t nlabels;
    const label *annotations;       /* sorted by name */
    size_t nannotations;
    int64_t starts_at_ms;
    int64_t ends_at_ms;             /* 0 = not set (Go's zero time) */
    const char *generator_url;      /* NULL or "" when none */
    int resolved;                   /* status "resolved" rather than "firing" */
} am_alert;

/* One aggregation group's notification.  status, commonLabels and
 * commonAnnotations are derived from the alerts as Alertmanager derives
 * them (status is "firing" when any alert fires; common labels are those
 * with one value in every alert). */
typedef struct am_message {
    const char *receiver;           /* the receiver's name */
    const am_alert *alerts;         /* in Alertmanager's order */
    size_t nalerts;
    const label *group_labels;      /* sorted by name */
    size_t ngroup_labels;
    const char *external_url;       /* Alertmanager's --web.external-url */
    const char *group_key;          /* e.g. {}/{severity="page"}:{alertname="X"} */
    int64_t now_ms;                 /* the time of sending (signatures, Retry-After) */
} am_message;

/* Alertmanager's model.LabelSet.Fingerprint: FNV-1a 64 over each label of
 * the sorted set (name, 0xff, value, 0xff).  Printed as %016llx. */
uint64_t am_fingerprint(const label *l, size_t n);

/* ------------------------------------------------------------ configuration */

typedef enum receiver_type {
    RECEIVER_WEBHOOK,
    RECEIVER_SLACK,
    RECEIVER_TELEGRAM,
    RECEIVER_DISCORD,
    RECEIVER_DINGTALK,
    RECEIVER_WECOM,
    RECEIVER_FEISHU,
} receiver_type;

/* "webhook", "slack", ... as Alertmanager names integrations in logs. */
const char *receiver_type_name(receiver_type t);

/* http_config (prometheus/common's HTTPClientConfig), checked as its
 * Validate() does.  File names are resolved against the configuration's
 * folder. */
typedef config_http receiver_http;   /* follow_redirects, enable_http2 default 1 */

/* The parts of Alertmanager's `global:` section that receivers inherit.
 * All NULL means Alertmanager's defaults. */
typedef struct receiver_globals {
    const char *slack_api_url;          /* global.slack_api_url */
    const char *slack_api_url_file;     /* global.slack_api_url_file (resolved) */
    const char *telegram_api_url;       /* default https://api.telegram.org */
    const receiver_http *http_config;   /* global.http_config; NULL: the defaults */
} receiver_globals;

/* Slack's fields.  All but link_names, short_fields and mrkdwn_in are
 * templates, holding the configured text or Alertmanager's default (NULL:
 * neither, the field is left out of the payload). */
typedef struct receiver_slack {
    const char *channel, *username, *color, *title, *title_link, *pretext, *text, *fallback, *callback_id,
        *icon_emoji, *icon_url, *image_url, *thumb_url, *footer;
    int link_names, short_fields;
    const char **mrkdwn_in;             /* default fallback, pretext, text */
    size_t nmrkdwn_in;
} receiver_slack;

typedef struct receiver_telegram {
    const char *bot_token, *bot_token_file;     /* exactly one is set */
    int64_t chat_id;                            /* required, non-zero */
    int64_t message_thread_id;                  /* 0 = none */
    const char *parse_mode;                     /* "HTML" (default), "Markdown", "MarkdownV2" or "" */
    int disable_notifications;
} receiver_telegram;

/* One integration: one entry of a receiver's <type>_configs list.  Every
 * default and inherited value is filled in. */
typedef struct receiver_integration {
    receiver_type type;
    const char *receiver;           /* the receiver's name */
    size_t index;                   /* position in its <type>_configs list */
    int line;                       /* where the entry starts */
    int send_resolved;              /* webhook, discord, telegram, own types: default 1; slack: 0 */
    const receiver_http *http;      /* never NULL (global.http_config when not given) */
    /* The endpoint: webhook url, slack api_url, discord webhook_url, the
     * robots' url; telegram's api_url (the bot API's base).  Exactly one
     * of url and url_file is set (url_file resolved; telegram and the
     * robots have url only). */
    const char *url, *url_file;
    uint64_t max_alerts;            /* webhook and own types: 0 = no limit */
    int64_t timeout_ms;             /* webhook timeout; 0 = none */
    const char *secret;             /* dingtalk, feishu: signing secret; NULL = unsigned */
    /* Templates, as configured or the type's default: title (Slack's
     * slack.title; Discord's embed title; DingTalk's markdown.title and
     * the heading line of its text; WeCom's heading line; Feishu's card
     * header), message (Discord's embed description, Telegram's text, the
     * robots' markdown after the heading), content (Discord). */
    const char *title, *message, *content;
    const char *username, *avatar_url;  /* discord */
    receiver_slack slack;
    receiver_telegram telegram;
    const void *priv;               /* parsed templates (private) */
} receiver_integration;

/* One receivers entry. */
typedef struct receiver {
    const char *name;
    int line;
    /* In Alertmanager's order: webhook, slack, telegram, discord, then
     * dingtalk, wecom, feishu; each type's entries in list order.  A
     * receiver may have none (it discards notifications). */
    receiver_integration *integrations;
    size_t nintegrations;
} receiver;

typedef struct receiver_set {
    receiver *receivers;            /* in file order */
    size_t n;
} receiver_set;

/* Decodes the `receivers:` sequence (NULL or null: no receivers) with the
 * given globals (NULL: Alertmanager's defaults).  Checks everything
 * Alertmanager checks, with its wording ("missing name in receiver",
 * "notification config name \"x\" is not unique", "unsupported scheme
 * \"ftp\" for URL", "field foo not found in type config.plain", ...), and
 * parses every configured template, so a bad template fails the load with
 * its position.  Returns 0 with *out set (in L's arena), or -1 with
 * L->err set to "FILE:LINE:COL: reason". */
int receivers_decode(yt_loader *L, const yt_node *receivers_seq, const receiver_globals *g, receiver_set **out);

/* Reads the fields of Alertmanager's `global:` mapping that receivers
 * inherit (slack_api_url, slack_api_url_file, telegram_api_url,
 * http_config) into *g; the caller checks the mapping's other keys.
 * Returns 0, or -1 with L->err set. */
int receiver_globals_decode(yt_loader *L, const yt_node *global, receiver_globals *g);

/* An http_config mapping on its own (for callers with other HTTP
 * clients in Alertmanager's format).  NULL or null gives the defaults. */
int receiver_http_decode(yt_loader *L, const yt_node *n, receiver_http *out);

/* Finds a receiver by name; NULL when there is none. */
const receiver *receiver_set_find(const receiver_set *s, const char *name);

/* ------------------------------------------------------------ requests */

typedef struct receiver_header {
    char *name, *value;
} receiver_header;

/* One HTTP request to send.  http points into the configuration: the TLS,
 * proxy and redirect settings for the client that sends it (the
 * Authorization header is already among headers).  The URL and headers
 * may carry secrets (webhook URLs, Telegram's bot token, DingTalk's
 * signature, credentials): keep them out of logs. */
typedef struct receiver_request {
    const char *method;             /* "POST" */
    char *url;                      /* with any query string (DingTalk's signature) */
    receiver_header *headers;       /* Content-Type first */
    size_t nheaders;
    char *body;                     /* NUL-terminated for convenience */
    size_t body_len;
    const receiver_http *http;
    size_t nalerts;                 /* alerts listed in the message */
    size_t ntruncated;              /* alerts left out (max_alerts or the size limit) */
} receiver_request;

/* Builds the request integration ri sends for message m.  Resolved alerts
 * are dropped first when ri->send_resolved is off, as Alertmanager's
 * retry stage does.  Returns 0 with *out filled (free it with
 * receiver_request_free), 1 when nothing is to be sent (no alerts, or
 * only resolved ones with send_resolved off; *out is empty), or -1 with
 * err set, naming the receiver and integration (a
 * template that fails to execute, an unreadable *_file). */
int receiver_build(const receiver_integration *ri, const am_message *m, receiver_request *out, errbuf *err);

/* Releases what a request owns and empties it.  An empty request is a
 * no-op. */
void receiver_request_free(receiver_request *r);

/* ------------------------------------------------------------ answers */

/* What the endpoint answered. */
typedef struct receiver_response {
    long status;                    /* HTTP status code */
    const char *content_type;       /* NULL when absent */
    const char *retry_after;        /* the Retry-After header; NULL when absent */
    const char *body;               /* need not be NUL-terminated */
    size_t body_len;
    int64_t now_ms;                 /* for an HTTP-date Retry-After */
} receiver_response;

typedef struct receiver_outcome {
    int ok;                         /* delivered */
    int retry;                      /* failed, and a later attempt may succeed */
    int64_t retry_after_ms;         /* the endpoint's wish (Retry-After, Telegram's retry_after); -1 when none */
    char msg[512];                  /* failures: receiver "x" webhook[0]: reason */
} receiver_outcome;

/* Reads an answer: 2xx is success unless the platform reports an error in
 * the body (DingTalk and WeCom errcode != 0, Feishu code != 0, Telegram
 * ok false, Slack anything but "ok" or {"ok":true}); 429 and 5xx are
 * retried, and so are the platforms' rate-limit codes in a 2xx body
 * (DingTalk 130101, WeCom 45009, Feishu 9499 and 11232); other failures
 * are not.  Returns 0 when delivered, -1 otherwise; *out says which. */
int receiver_classify(const receiver_integration *ri, const receiver_response *resp, receiver_outcome *out);

#endif
