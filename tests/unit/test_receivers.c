/*
 * test_receivers.c - the receivers: decoding of the `receivers:` section
 * (every type's keys and defaults, inheritance from `global:`, and a table
 * of bad configurations with their exact messages), the payload of every
 * integration for a fixed notification compared byte for byte with the
 * files in tests/golden/receivers/ (UPDATE_GOLDEN=1 rewrites them; they
 * are reviewed against Alertmanager's formats and the platforms'
 * documentation), size limits and UTF-8-safe truncation, DingTalk's and
 * Feishu's signatures against vectors computed independently, and the
 * reading of every platform's answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "alert/receivers.h"

/* ------------------------------------------------------------ loading */

/* A parsed configuration: the arena holds the set. */
typedef struct {
    yt_arena *arena;
    errbuf err;
    receiver_set *set;
    receiver_globals g;
} loaded;

/* Parses a document with optional `global:` and `receivers:` keys as the
 * alerting configuration's loader would.  Returns 0 or -1 with l->err. */
static int load(const char *text, loaded *l) {
    memset(l, 0, sizeof *l);
    l->arena = yt_arena_new();
    yt_loader L = {.arena = l->arena, .name = "am.yml", .dir = "/etc/am", .err = &l->err};
    yt_node *root = NULL;
    if (yt_parse(&L, text, strlen(text), &root)) return -1;
    if (receiver_globals_decode(&L, yt_field(root, "global"), &l->g)) return -1;
    return receivers_decode(&L, yt_field(root, "receivers"), &l->g, &l->set);
}

static void unload(loaded *l) { yt_arena_free(l->arena); }

/* Loads text that must be accepted. */
static void load_ok(const char *text, loaded *l) {
    if (load(text, l)) fail_msg("unexpected error: %s\n--- config:\n%s", l->err.msg, text);
}

static const receiver_integration *first(const loaded *l) {
    assert_true(l->set->n >= 1);
    assert_true(l->set->receivers[0].nintegrations >= 1);
    return &l->set->receivers[0].integrations[0];
}

/* ------------------------------------------------------------ configuration */

static void test_webhook_config(void **state) {
    (void)state;
    loaded l;
    load_ok("receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            "      - url: http://example.com:8080/alerts\n"
            "      - url_file: secrets/url\n"
            "        send_resolved: false\n"
            "        max_alerts: 10\n"
            "        timeout: 30s\n"
            "        http_config:\n"
            "          basic_auth: {username: u, password_file: pw}\n"
            "          tls_config: {ca_file: ca.pem, insecure_skip_verify: true}\n"
            "          proxy_url: http://proxy:3128\n"
            "          follow_redirects: false\n",
            &l);
    const receiver *r = receiver_set_find(l.set, "hook");
    assert_non_null(r);
    assert_null(receiver_set_find(l.set, "nope"));
    assert_int_equal(r->nintegrations, 2);
    const receiver_integration *a = &r->integrations[0], *b = &r->integrations[1];
    assert_int_equal(a->type, RECEIVER_WEBHOOK);
    assert_string_equal(receiver_type_name(a->type), "webhook");
    assert_string_equal(a->receiver, "hook");
    assert_int_equal(a->index, 0);
    assert_int_equal(a->line, 4);
    assert_true(a->send_resolved);
    assert_string_equal(a->url, "http://example.com:8080/alerts");
    assert_null(a->url_file);
    assert_int_equal(a->max_alerts, 0);
    assert_non_null(a->http);
    assert_null(a->http->basic_auth);
    assert_null(a->http->authorization);
    assert_true(a->http->follow_redirects);
    assert_true(a->http->enable_http2);
    assert_int_equal(b->index, 1);
    assert_false(b->send_resolved);
    assert_null(b->url);
    assert_string_equal(b->url_file, "/etc/am/secrets/url");
    assert_int_equal(b->max_alerts, 10);
    assert_int_equal(b->timeout_ms, 30000);
    assert_string_equal(b->http->basic_auth->username, "u");
    assert_string_equal(b->http->basic_auth->password_file, "/etc/am/pw");
    assert_string_equal(b->http->tls.ca_file, "/etc/am/ca.pem");
    assert_true(b->http->tls.insecure_skip_verify);
    assert_string_equal(b->http->proxy_url, "http://proxy:3128");
    assert_false(b->http->follow_redirects);
    unload(&l);
}

static void test_slack_config(void **state) {
    (void)state;
    loaded l;
    /* The global URL and http_config are inherited. */
    load_ok("global:\n"
            "  slack_api_url: https://hooks.slack.com/services/T/B/X\n"
            "  http_config:\n"
            "    bearer_token: tok\n"
            "receivers:\n"
            "  - name: chat\n"
            "    slack_configs:\n"
            "      - channel: '#ops'\n"
            "      - api_url: https://mattermost.example/hooks/abc\n"
            "        send_resolved: true\n"
            "        title: '{{ .CommonLabels.alertname }}'\n"
            "        text: ''\n"
            "        link_names: true\n"
            "        short_fields: true\n"
            "        mrkdwn_in: [text]\n"
            "        icon_emoji: ':fire:'\n"
            "        footer: promlite\n",
            &l);
    const receiver *r = &l.set->receivers[0];
    const receiver_integration *a = &r->integrations[0], *b = &r->integrations[1];
    assert_int_equal(a->type, RECEIVER_SLACK);
    assert_false(a->send_resolved);
    assert_string_equal(a->url, "https://hooks.slack.com/services/T/B/X");
    assert_string_equal(a->slack.channel, "#ops");
    assert_string_equal(a->slack.title, "{{ template \"slack.default.title\" . }}");
    assert_string_equal(a->slack.username, "{{ template \"slack.default.username\" . }}");
    assert_string_equal(a->slack.color, "{{ if eq .Status \"firing\" }}danger{{ else }}good{{ end }}");
    assert_string_equal(a->slack.text, "{{ template \"slack.default.text\" . }}");
    assert_string_equal(a->slack.fallback, "{{ template \"slack.default.fallback\" . }}");
    assert_string_equal(a->http->authorization->type, "Bearer");
    assert_string_equal(a->http->authorization->credentials, "tok");
    assert_int_equal(a->slack.nmrkdwn_in, 0);
    assert_true(b->send_resolved);
    assert_string_equal(b->url, "https://mattermost.example/hooks/abc");
    assert_string_equal(b->slack.title, "{{ .CommonLabels.alertname }}");
    assert_string_equal(b->slack.text, "");
    assert_true(b->slack.link_names);
    assert_true(b->slack.short_fields);
    assert_int_equal(b->slack.nmrkdwn_in, 1);
    assert_string_equal(b->slack.mrkdwn_in[0], "text");
    assert_string_equal(b->slack.icon_emoji, ":fire:");
    assert_string_equal(b->slack.footer, "promlite");
    unload(&l);

    load_ok("global:\n  slack_api_url_file: slack.url\n"
            "receivers:\n  - name: chat\n    slack_configs:\n      - {}\n",
            &l);
    assert_null(first(&l)->url);
    assert_string_equal(first(&l)->url_file, "/etc/am/slack.url");
    unload(&l);
}

static void test_discord_telegram_config(void **state) {
    (void)state;
    loaded l;
    load_ok("global:\n  telegram_api_url: http://tg-proxy.local:8081\n"
            "receivers:\n"
            "  - name: d\n"
            "    discord_configs:\n"
            "      - webhook_url: https://discord.com/api/webhooks/1/abc\n"
            "        username: am\n"
            "    telegram_configs:\n"
            "      - bot_token: '123:ABC'\n"
            "        chat_id: -1001234567890\n"
            "      - bot_token_file: tg.token\n"
            "        chat_id: 42\n"
            "        api_url: https://api.telegram.org\n"
            "        parse_mode: MarkdownV2\n"
            "        disable_notifications: true\n"
            "        message_thread_id: 7\n"
            "        send_resolved: false\n"
            "        message: '{{ .Status }}'\n",
            &l);
    const receiver *r = &l.set->receivers[0];
    assert_int_equal(r->nintegrations, 3);
    /* Alertmanager's order: telegram before discord. */
    const receiver_integration *t1 = &r->integrations[0], *t2 = &r->integrations[1], *d = &r->integrations[2];
    assert_int_equal(t1->type, RECEIVER_TELEGRAM);
    assert_int_equal(t2->type, RECEIVER_TELEGRAM);
    assert_int_equal(d->type, RECEIVER_DISCORD);
    assert_true(d->send_resolved);
    assert_string_equal(d->url, "https://discord.com/api/webhooks/1/abc");
    assert_string_equal(d->title, "{{ template \"discord.default.title\" . }}");
    assert_string_equal(d->message, "{{ template \"discord.default.message\" . }}");
    assert_string_equal(d->username, "am");
    assert_true(t1->send_resolved);
    assert_string_equal(t1->url, "http://tg-proxy.local:8081");
    assert_string_equal(t1->telegram.bot_token, "123:ABC");
    assert_true(t1->telegram.chat_id == -1001234567890LL);
    assert_string_equal(t1->telegram.parse_mode, "HTML");
    assert_false(t1->telegram.disable_notifications);
    assert_string_equal(t1->message, "{{ template \"telegram.default.message\" . }}");
    assert_string_equal(t2->url, "https://api.telegram.org");
    assert_string_equal(t2->telegram.bot_token_file, "/etc/am/tg.token");
    assert_string_equal(t2->telegram.parse_mode, "MarkdownV2");
    assert_true(t2->telegram.disable_notifications);
    assert_int_equal(t2->telegram.message_thread_id, 7);
    assert_false(t2->send_resolved);
    assert_string_equal(t2->message, "{{ .Status }}");
    unload(&l);

    load_ok("receivers:\n  - name: t\n    telegram_configs:\n      - {bot_token: x, chat_id: 1, parse_mode: ''}\n", &l);
    assert_string_equal(first(&l)->url, "https://api.telegram.org");
    assert_string_equal(first(&l)->telegram.parse_mode, "");
    unload(&l);
}

static void test_robot_configs(void **state) {
    (void)state;
    loaded l;
    load_ok("receivers:\n"
            "  - name: cn\n"
            "    dingtalk_configs:\n"
            "      - url: https://oapi.dingtalk.com/robot/send?access_token=abc\n"
            "        secret: SECabc\n"
            "        max_alerts: 5\n"
            "    wecom_configs:\n"
            "      - url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k\n"
            "        send_resolved: false\n"
            "        message: '{{ .Status }}'\n"
            "    feishu_configs:\n"
            "      - url: https://open.feishu.cn/open-apis/bot/v2/hook/x\n"
            "        secret: s\n"
            "        title: T\n"
            "  - name: empty\n",
            &l);
    assert_int_equal(l.set->n, 2);
    const receiver *r = &l.set->receivers[0];
    assert_int_equal(r->nintegrations, 3);
    const receiver_integration *dt = &r->integrations[0], *wc = &r->integrations[1], *fs = &r->integrations[2];
    assert_int_equal(dt->type, RECEIVER_DINGTALK);
    assert_true(dt->send_resolved);
    assert_string_equal(dt->secret, "SECabc");
    assert_int_equal(dt->max_alerts, 5);
    assert_string_equal(dt->title, "{{ template \"dingtalk.default.title\" . }}");
    assert_string_equal(dt->message, "{{ template \"dingtalk.default.message\" . }}");
    assert_int_equal(wc->type, RECEIVER_WECOM);
    assert_false(wc->send_resolved);
    assert_null(wc->secret);
    assert_string_equal(wc->title, "{{ template \"wecom.default.title\" . }}");
    assert_string_equal(wc->message, "{{ .Status }}");
    assert_int_equal(fs->type, RECEIVER_FEISHU);
    assert_string_equal(fs->title, "T");
    assert_string_equal(fs->message, "{{ template \"feishu.default.message\" . }}");
    assert_string_equal(receiver_type_name(fs->type), "feishu");
    assert_int_equal(l.set->receivers[1].nintegrations, 0);
    unload(&l);

    /* No receivers at all. */
    load_ok("global: {}\n", &l);
    assert_int_equal(l.set->n, 0);
    unload(&l);
}

/* Every entry: the text and the whole message it must give. */
static const struct {
    const char *yaml;
    const char *want;
} bad_configs[] = {
    /* structure and types */
    {"receivers: 5\n", "am.yml:1:12: cannot unmarshal !!int `5` into []config.Receiver"},
    {"receivers:\n  - foo\n", "am.yml:2:5: cannot unmarshal !!str `foo` into config.plain"},
    {"receivers:\n  - name: a\n    webhook_configs: x\n",
     "am.yml:3:22: cannot unmarshal !!str `x` into []*config.WebhookConfig"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - 5\n", "am.yml:4:9: cannot unmarshal !!int `5` into config.plain"},
    {"receivers:\n  - name: a\n    dingtalk_configs:\n      - 5\n",
     "am.yml:4:9: cannot unmarshal !!int `5` into config.DingTalkConfig"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: [x]\n", "am.yml:4:14: cannot unmarshal !!seq into string"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        send_resolved: maybe\n",
     "am.yml:5:24: cannot unmarshal !!str `maybe` into bool"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        max_alerts: -1\n",
     "am.yml:5:21: cannot unmarshal !!int `-1` into uint64"},
    {"receivers:\n  - name: a\n    telegram_configs:\n      - bot_token: x\n        chat_id: abc\n",
     "am.yml:5:18: cannot unmarshal !!str `abc` into int64"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      -\n", "am.yml:4:8: empty or null entry in webhook_configs"},
    /* unknown keys */
    {"receivers:\n  - name: a\n    foo: 1\n", "am.yml:3:5: field foo not found in type config.plain"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        uri: http://y\n",
     "am.yml:5:9: field uri not found in type config.plain"},
    {"receivers:\n  - name: a\n    slack_configs:\n      - api_url: http://x\n        channnel: x\n",
     "am.yml:5:9: field channnel not found in type config.plain"},
    {"receivers:\n  - name: a\n    wecom_configs:\n      - url: http://x\n        secret: s\n",
     "am.yml:5:9: field secret not found in type config.WeComConfig"},
    {"receivers:\n  - name: a\n    feishu_configs:\n      - url: http://x\n        msg: s\n",
     "am.yml:5:9: field msg not found in type config.FeishuConfig"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        http_config:\n          foo: 1\n",
     "am.yml:6:11: field foo not found in type config.plain"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        url: http://y\n",
     "am.yml:5:9: field url already set in type config.plain"},
    /* unsupported integrations and keys */
    {"receivers:\n  - name: a\n    email_configs:\n      - to: x@example.com\n",
     "am.yml:3:5: \"email_configs\" is not supported by promlite"},
    {"receivers:\n  - name: a\n    pagerduty_configs:\n      - routing_key: k\n",
     "am.yml:3:5: \"pagerduty_configs\" is not supported by promlite"},
    {"receivers:\n  - name: a\n    wechat_configs:\n      - corp_id: c\n",
     "am.yml:3:5: \"wechat_configs\" is not supported by promlite"},
    {"receivers:\n  - name: a\n    msteams_configs:\n      - webhook_url: http://x\n",
     "am.yml:3:5: \"msteams_configs\" is not supported by promlite"},
    {"receivers:\n  - name: a\n    slack_configs:\n      - api_url: http://x\n        fields:\n          - {title: t, value: v}\n",
     "am.yml:5:9: \"fields\" is not supported by promlite"},
    {"receivers:\n  - name: a\n    slack_configs:\n      - api_url: http://x\n        actions: [{type: button, text: t, url: http://y}]\n",
     "am.yml:5:9: \"actions\" is not supported by promlite"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        http_config:\n          oauth2: {client_id: x}\n",
     "am.yml:6:11: \"oauth2\" is not supported by promlite"},
    /* names */
    {"receivers:\n  - webhook_configs:\n      - url: http://x\n", "am.yml:2:5: missing name in receiver"},
    {"receivers:\n  - name: ''\n", "am.yml:2:5: missing name in receiver"},
    {"receivers:\n  -\n", "am.yml:2:4: missing name in receiver"},
    {"receivers:\n  - name: a\n  - name: b\n  - name: a\n", "am.yml:4:11: notification config name \"a\" is not unique"},
    /* URLs */
    {"receivers:\n  - name: a\n    webhook_configs:\n      - send_resolved: true\n",
     "am.yml:4:9: one of url or url_file must be configured"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        url_file: f\n",
     "am.yml:5:19: at most one of url & url_file must be configured"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: ftp://example.com/x\n",
     "am.yml:4:14: unsupported scheme \"ftp\" for URL"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: example.com/hook\n",
     "am.yml:4:14: unsupported scheme \"\" for URL"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: ''\n", "am.yml:4:14: unsupported scheme \"\" for URL"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: 'http:///path'\n", "am.yml:4:14: missing host for URL"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: 'http://a b/'\n",
     "am.yml:4:14: parse \"http://a b/\": invalid character \" \" in host name"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: 'http://host:80x/'\n",
     "am.yml:4:14: parse \"http://host:80x/\": invalid port \":80x\" after host"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: \"http://x/\\x01\"\n",
     "am.yml:4:14: parse \"http://x/\\x01\": net/url: invalid control character in URL"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: ':x'\n", "am.yml:4:14: parse \":x\": missing protocol scheme"},
    {"receivers:\n  - name: a\n    slack_configs:\n      - channel: x\n",
     "am.yml:4:9: no global Slack API URL set either inline or in a file"},
    {"receivers:\n  - name: a\n    slack_configs:\n      - api_url: http://x\n        api_url_file: f\n",
     "am.yml:5:23: at most one of api_url & api_url_file must be configured"},
    {"global:\n  slack_api_url: http://x\n  slack_api_url_file: f\n",
     "am.yml:3:23: at most one of slack_api_url & slack_api_url_file must be configured"},
    {"global:\n  telegram_api_url: gopher://x\n", "am.yml:2:21: unsupported scheme \"gopher\" for URL"},
    {"receivers:\n  - name: a\n    discord_configs:\n      - title: x\n",
     "am.yml:4:9: one of webhook_url or webhook_url_file must be configured"},
    {"receivers:\n  - name: a\n    discord_configs:\n      - webhook_url: http://x\n        webhook_url_file: f\n",
     "am.yml:5:27: at most one of webhook_url & webhook_url_file must be configured"},
    {"receivers:\n  - name: a\n    dingtalk_configs:\n      - secret: s\n", "am.yml:4:9: missing url on dingtalk_config"},
    {"receivers:\n  - name: a\n    wecom_configs:\n      - message: m\n", "am.yml:4:9: missing url on wecom_config"},
    {"receivers:\n  - name: a\n    feishu_configs:\n      - url: file:///x\n", "am.yml:4:14: unsupported scheme \"file\" for URL"},
    /* telegram */
    {"receivers:\n  - name: a\n    telegram_configs:\n      - chat_id: 1\n",
     "am.yml:4:9: missing bot_token or bot_token_file on telegram_config"},
    {"receivers:\n  - name: a\n    telegram_configs:\n      - bot_token: x\n        bot_token_file: f\n        chat_id: 1\n",
     "am.yml:5:25: at most one of bot_token & bot_token_file must be configured"},
    {"receivers:\n  - name: a\n    telegram_configs:\n      - bot_token: x\n", "am.yml:4:9: missing chat_id on telegram_config"},
    {"receivers:\n  - name: a\n    telegram_configs:\n      - bot_token: x\n        chat_id: 1\n        parse_mode: html\n",
     "am.yml:6:21: unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string"},
    /* http_config */
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        http_config:\n"
     "          bearer_token: t\n          bearer_token_file: f\n",
     "am.yml:7:30: at most one of bearer_token & bearer_token_file must be configured"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        http_config:\n"
     "          authorization: {type: Basic, credentials: c}\n",
     "am.yml:6:33: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        http_config:\n"
     "          proxy_url: 'ftp://p'\n",
     "am.yml:6:22: proxy_url \"ftp://p\": scheme must be http, https or socks5"},
    {"receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        http_config:\n"
     "          tls_config: {key_file: k}\n",
     "am.yml:6:34: client key file \"k\" specified without client cert file"},
    {"global:\n  http_config:\n    basic_auth: {username: u, password: p, password_file: f}\n",
     "am.yml:3:59: at most one of basic_auth password & password_file must be configured"},
    /* templates, parsed at load time */
    {"receivers:\n  - name: a\n    slack_configs:\n      - api_url: http://x\n        title: '{{ .Status '\n",
     "am.yml:5:16: template: title:1: unclosed action"},
    {"receivers:\n  - name: a\n    telegram_configs:\n      - bot_token: x\n        chat_id: 1\n"
     "        message: '{{ .Status | nope }}'\n",
     "am.yml:6:18: template: message:1: function \"nope\" not defined"},
    {"receivers:\n  - name: a\n    feishu_configs:\n      - url: http://x\n        message: '{{ if }}'\n",
     "am.yml:5:18: template: message:1: missing value for if"},
};

static void test_bad_configs(void **state) {
    (void)state;
    size_t n = sizeof bad_configs / sizeof bad_configs[0];
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        loaded l;
        int rc = load(bad_configs[i].yaml, &l);
        if (rc == 0) {
            print_error("case %zu accepted:\n%s\n", i, bad_configs[i].yaml);
            failures++;
        } else if (strcmp(l.err.msg, bad_configs[i].want)) {
            print_error("case %zu:\n%s\nwant: %s\ngot:  %s\n", i, bad_configs[i].yaml, bad_configs[i].want, l.err.msg);
            failures++;
        }
        unload(&l);
    }
    assert_int_equal(failures, 0);
}

/* ------------------------------------------------------------ the fixed notification */

#define L(n, v) {n, sizeof n - 1, v, sizeof v - 1}

static const label a1_labels[] = {L("alertname", "HighLatency"), L("instance", "web-1:9100"), L("job", "node"),
                                  L("severity", "page")};
static const label a1_ann[] = {L("description", "p99 latency is 1.5s & rising"),
                               L("summary", "Latency > 1s on <web-1>")};
static const label a2_labels[] = {L("alertname", "HighLatency"), L("instance", "web-2:9100"), L("job", "node"),
                                  L("severity", "page")};
static const label a2_ann[] = {L("description", "p99 latency is 1.5s & rising"), L("summary", "Latency > 1s on web-2")};
static const label a3_labels[] = {L("alertname", "HighLatency"), L("datacenter", "東京"), L("instance", "web-3:9100"),
                                  L("job", "node"), L("severity", "page")};
static const label a3_ann[] = {L("summary", "Latency > 1s on web-3")};
static const label group_labels[] = {L("alertname", "HighLatency")};

#define GEN "http://prometheus.example:9090/graph?g0.expr=latency_seconds+%3E+1&g0.tab=1"

/* Two firing alerts and one resolved, as Alertmanager orders them. */
static const am_alert alerts3[] = {
    {a1_labels, 4, a1_ann, 2, 1704164645120, 0, GEN, 0},                      /* 2024-01-02T03:04:05.12Z */
    {a2_labels, 4, a2_ann, 2, 1704164700000, 1704168300000, GEN, 0},          /* 03:05:00Z, ends 04:05:00Z */
    {a3_labels, 5, a3_ann, 1, 1704160000000, 1704164000500, GEN, 1},          /* 01:46:40Z - 02:53:20.5Z */
};

static am_message message3(void) {
    am_message m = {
        .receiver = "team-ops.page",
        .alerts = alerts3,
        .nalerts = 3,
        .group_labels = group_labels,
        .ngroup_labels = 1,
        .external_url = "http://alertmanager.example:9093",
        .group_key = "{}/{severity=\"page\"}:{alertname=\"HighLatency\"}",
        .now_ms = 1704164760000,
    };
    return m;
}

/* A group of n firing alerts, each with its own instance and a long
 * annotation, for the size limits.  Free with big_free. */
typedef struct {
    am_alert *alerts;
    label *labels;
    char **strings;
    size_t n;
} big_group;

static big_group big_make(size_t n, const char *annotation) {
    big_group b = {xcalloc(n, sizeof(am_alert)), xcalloc(n * 4, sizeof(label)), xcalloc(n, sizeof(char *)), n};
    for (size_t i = 0; i < n; i++) {
        char inst[32];
        snprintf(inst, sizeof inst, "host-%04zu:9100", i);
        b.strings[i] = xstrndup(inst, strlen(inst));
        label *l = &b.labels[i * 4];
        l[0] = (label)L("alertname", "DiskFull");
        l[1] = (label){"instance", 8, b.strings[i], (uint32_t)strlen(b.strings[i])};
        l[2] = (label)L("severity", "warning");
        l[3] = (label){"summary", 7, annotation, (uint32_t)strlen(annotation)};
        b.alerts[i] = (am_alert){l, 3, &l[3], 1, 1704164645000 + (int64_t)i * 1000, 0, "", 0};
    }
    return b;
}

static void big_free(big_group *b) {
    for (size_t i = 0; i < b->n; i++) free(b->strings[i]);
    free(b->strings);
    free(b->labels);
    free(b->alerts);
}

static am_message big_message(const big_group *b) {
    am_message m = message3();
    m.alerts = b->alerts;
    m.nalerts = b->n;
    static const label gl[] = {L("alertname", "DiskFull")};
    m.group_labels = gl;
    m.group_key = "{}:{alertname=\"DiskFull\"}";
    return m;
}

/* ------------------------------------------------------------ golden files */

/* Compares got with tests/golden/receivers/NAME (under $SRCDIR when set);
 * with UPDATE_GOLDEN=1 rewrites the file instead. */
static void golden(const char *name, const char *got, size_t len) {
    const char *src = getenv("SRCDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/golden/receivers/%s", src ? src : ".", name);
    const char *update = getenv("UPDATE_GOLDEN");
    if (update && !strcmp(update, "1")) {
        FILE *f = fopen(path, "wb");
        if (!f) fail_msg("cannot write %s", path);
        fwrite(got, 1, len, f);
        fclose(f);
        return;
    }
    size_t wlen = 0;
    char *want = read_small_file(path, 1u << 24, &wlen);
    if (!want) fail_msg("cannot read %s (UPDATE_GOLDEN=1 creates it)", path);
    if (wlen != len || memcmp(want, got, len)) {
        size_t i = 0;
        while (i < len && i < wlen && want[i] == got[i]) i++;
        print_error("%s differs at byte %zu\nwant: %.*s\ngot:  %.*s\n", name, i, (int)(wlen - i < 200 ? wlen - i : 200),
                    want + i, (int)(len - i < 200 ? len - i : 200), got + i);
        free(want);
        fail();
    }
    free(want);
}

/* Builds the request of the first integration of a one-receiver config. */
static void build_ok(const char *yaml, const am_message *m, loaded *l, receiver_request *r) {
    load_ok(yaml, l);
    errbuf err = {{0}};
    int rc = receiver_build(first(l), m, r, &err);
    if (rc) fail_msg("build failed (%d): %s", rc, err.msg);
}

static const char *header(const receiver_request *r, const char *name) {
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

/* ------------------------------------------------------------ webhook */

static void test_fingerprint(void **state) {
    (void)state;
    /* Computed independently with Python:
     *   h = 0xcbf29ce484222325
     *   for n, v in sorted(labels.items()):
     *       for c in n.encode() + b'\xff' + v.encode() + b'\xff':
     *           h = ((h ^ c) * 0x100000001b3) % 2**64
     *   print('%016x' % h) */
    assert_true(am_fingerprint(NULL, 0) == 0xcbf29ce484222325ULL);
    assert_true(am_fingerprint(a1_labels, 4) == 0xa597559b6309fd32ULL);
    static const label one[] = {L("alertname", "Watchdog")};
    assert_true(am_fingerprint(one, 1) == 0x003b0a0f7d3fa569ULL);
}

static void test_webhook_golden(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: team-ops.page\n    webhook_configs:\n      - url: http://hooks.example/alert?x=1\n"
             "        http_config: {basic_auth: {username: am, password: secret}}\n",
             &m, &l, &r);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "http://hooks.example/alert?x=1");
    assert_string_equal(r.headers[0].name, "Content-Type");
    assert_string_equal(r.headers[0].value, "application/json");
    assert_string_equal(header(&r, "Authorization"), "Basic YW06c2VjcmV0");   /* base64("am:secret") */
    assert_int_equal(r.nalerts, 3);
    assert_int_equal(r.ntruncated, 0);
    assert_ptr_equal(r.http, first(&l)->http);
    assert_int_equal(strlen(r.body), r.body_len);
    golden("webhook.json", r.body, r.body_len);
    /* It is JSON with the fields Alertmanager's documentation lists. */
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "4");
    assert_string_equal(json_string_value(json_object_get(j, "receiver")), "team-ops\\.page");
    assert_int_equal(json_array_size(json_object_get(j, "alerts")), 3);
    json_decref(j);
    receiver_request_free(&r);
    receiver_request_free(&r);  /* emptied: a no-op */
    unload(&l);
}

static void test_webhook_max_alerts(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: x\n    webhook_configs:\n      - url: http://h/\n        max_alerts: 1\n", &m, &l, &r);
    assert_int_equal(r.nalerts, 1);
    assert_int_equal(r.ntruncated, 2);
    golden("webhook_max_alerts.json", r.body, r.body_len);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "truncatedAlerts")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "alerts")), 1);
    /* Common labels and annotations describe the alerts sent. */
    assert_int_equal(json_object_size(json_object_get(j, "commonAnnotations")), 2);
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);
}

static void test_send_resolved_off(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    load_ok("receivers:\n  - name: x\n    webhook_configs:\n      - url: http://h/\n        send_resolved: false\n", &l);
    receiver_request r;
    errbuf err = {{0}};
    assert_int_equal(receiver_build(first(&l), &m, &r, &err), 0);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "alerts")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "firing");
    json_decref(j);
    receiver_request_free(&r);
    /* Only resolved alerts: nothing to send. */
    m.alerts = &alerts3[2];
    m.nalerts = 1;
    assert_int_equal(receiver_build(first(&l), &m, &r, &err), 1);
    assert_null(r.body);
    unload(&l);
}

/* Strings are written as Go's encoding/json writes them. */
static void test_go_json_escaping(void **state) {
    (void)state;
    static const char value[] = "a\x01\t\n\b\f\"\\<>&\xe2\x80\xa8\xe2\x80\xa9\xff\xc3\x28\xed\xa0\x80\x7f\xf0\x9f\x94\xa5z";
    label ls[] = {L("alertname", "X"), {"v", 1, value, sizeof value - 1}};
    am_alert a = {ls, 2, NULL, 0, 0, -1500, NULL, 1};   /* the epoch; 1.5 s before it */
    am_message m = message3();
    m.alerts = &a;
    m.nalerts = 1;
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: x\n    webhook_configs:\n      - url: http://h/\n", &m, &l, &r);
    /* Python: json.dumps(value decoded with errors='replace') with <, >, &
     * as \u003c, \u003e, \u0026 and U+2028/9 escaped; each invalid byte
     * (0xff, the lone 0xc3, each of a surrogate's three bytes) is one
     * U+FFFD, as Go's decoder replaces them. */
    assert_non_null(strstr(r.body, "\"v\":\"a\\u0001\\t\\n\\b\\f\\\"\\\\\\u003c\\u003e\\u0026\\u2028\\u2029\\ufffd\\ufffd("
                                   "\\ufffd\\ufffd\\ufffd\x7f\xf0\x9f\x94\xa5z\""));
    assert_non_null(strstr(r.body, "\"startsAt\":\"1970-01-01T00:00:00Z\",\"endsAt\":\"1969-12-31T23:59:58.5Z\""));
    assert_non_null(strstr(r.body, "\"status\":\"resolved\",\"alerts\""));
    assert_non_null(strstr(r.body, "\"annotations\":{}"));
    assert_non_null(strstr(r.body, "\"generatorURL\":\"\""));
    receiver_request_free(&r);
    /* No alerts: nothing to send. */
    m.nalerts = 0;
    errbuf err;
    assert_int_equal(receiver_build(first(&l), &m, &r, &err), 1);
    unload(&l);
}

static void test_url_file_and_errors(void **state) {
    (void)state;
    char dir[] = "/tmp/test_receivers_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], text[1024];
    snprintf(path, sizeof path, "%s/url", dir);
    FILE *f = fopen(path, "w");
    fputs("  https://hooks.example/from-file \n", f);
    fclose(f);
    snprintf(text, sizeof text,
             "receivers:\n  - name: x\n    webhook_configs:\n      - url_file: %s\n"
             "        http_config: {authorization: {credentials_file: %s/missing}}\n",
             path, dir);
    loaded l;
    load_ok(text, &l);
    am_message m = message3();
    receiver_request r;
    errbuf err = {{0}};
    assert_int_equal(receiver_build(first(&l), &m, &r, &err), -1);
    assert_non_null(strstr(err.msg, "receiver \"x\" webhook[0]: could not read authorization credentials_file"));
    unload(&l);
    snprintf(text, sizeof text,
             "receivers:\n  - name: x\n    webhook_configs:\n      - url_file: %s\n"
             "        http_config: {authorization: {type: Token, credentials: abc}}\n",
             path);
    load_ok(text, &l);
    assert_int_equal(receiver_build(first(&l), &m, &r, &err), 0);
    assert_string_equal(r.url, "https://hooks.example/from-file");
    assert_string_equal(header(&r, "Authorization"), "Token abc");
    receiver_request_free(&r);
    unload(&l);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------ signatures */

static void test_dingtalk_signature(void **state) {
    (void)state;
    am_message m = message3();
    m.now_ms = 1704164760000;
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: x\n    dingtalk_configs:\n"
             "      - url: https://oapi.dingtalk.com/robot/send?access_token=abc\n"
             "        secret: SEC0123456789abcdef\n",
             &m, &l, &r);
    /* Computed independently, as DingTalk's documentation does it:
     *   printf '1704164760000\nSEC0123456789abcdef' |
     *     openssl dgst -sha256 -hmac 'SEC0123456789abcdef' -binary | base64
     *   -> /48c7c2oExY7LRWltDqHCE3dvo5tJo7++OyzRjo7Oj4=
     * then urllib.parse.quote_plus (Java's URLEncoder.encode). */
    assert_string_equal(r.url, "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1704164760000"
                               "&sign=%2F48c7c2oExY7LRWltDqHCE3dvo5tJo7%2B%2BOyzRjo7Oj4%3D");
    receiver_request_free(&r);
    unload(&l);
    /* A URL without a query gets one; without a secret it is unchanged. */
    build_ok("receivers:\n  - name: x\n    dingtalk_configs:\n      - url: https://robot.example/send\n"
             "        secret: SEC0123456789abcdef\n",
             &m, &l, &r);
    assert_non_null(strstr(r.url, "https://robot.example/send?timestamp=1704164760000&sign="));
    receiver_request_free(&r);
    unload(&l);
    build_ok("receivers:\n  - name: x\n    dingtalk_configs:\n      - url: https://robot.example/send?access_token=t\n",
             &m, &l, &r);
    assert_string_equal(r.url, "https://robot.example/send?access_token=t");
    receiver_request_free(&r);
    unload(&l);
}

static void test_feishu_signature(void **state) {
    (void)state;
    am_message m = message3();
    m.now_ms = 1704164760999;      /* Feishu signs whole seconds */
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: x\n    feishu_configs:\n"
             "      - url: https://open.feishu.cn/open-apis/bot/v2/hook/abc\n        secret: feishu-secret\n",
             &m, &l, &r);
    /* Computed independently, as Feishu's documentation does it (the
     * key is timestamp "\n" secret, the message empty):
     *   printf '' | openssl dgst -sha256 -hmac "$(printf '1704164760\nfeishu-secret')" -binary | base64
     *   -> Jz6FqCuuk/l4HVwUF5YtcnpOVFW67RUJ88Yf7ey5AwM= */
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "timestamp")), "1704164760");
    assert_string_equal(json_string_value(json_object_get(j, "sign")), "Jz6FqCuuk/l4HVwUF5YtcnpOVFW67RUJ88Yf7ey5AwM=");
    assert_string_equal(json_string_value(json_object_get(j, "msg_type")), "interactive");
    assert_string_equal(r.url, "https://open.feishu.cn/open-apis/bot/v2/hook/abc");
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);
}

/* ------------------------------------------------------------ answers */

/* Classifies one answer for the first integration of yaml. */
static int classify(const char *yaml, long status, const char *ctype, const char *retry_after, const char *body,
                    receiver_outcome *out) {
    loaded l;
    load_ok(yaml, &l);
    receiver_response resp = {status, ctype, retry_after, body, body ? strlen(body) : 0, 1704164760000};
    int rc = receiver_classify(first(&l), &resp, out);
    unload(&l);
    assert_int_equal(rc == 0, out->ok);
    return rc;
}

#define WEBHOOK "receivers:\n  - name: ops\n    webhook_configs:\n      - url: http://h/\n"
#define SLACK "receivers:\n  - name: ops\n    slack_configs:\n      - api_url: http://h/\n"
#define DISCORD "receivers:\n  - name: ops\n    discord_configs:\n      - webhook_url: http://h/\n"
#define TELEGRAM "receivers:\n  - name: ops\n    telegram_configs:\n      - {bot_token: t, chat_id: 1}\n"
#define DINGTALK "receivers:\n  - name: ops\n    dingtalk_configs:\n      - url: http://h/\n"
#define WECOM "receivers:\n  - name: ops\n    wecom_configs:\n      - url: http://h/\n"
#define FEISHU "receivers:\n  - name: ops\n    feishu_configs:\n      - url: http://h/\n"

static void test_classify_http(void **state) {
    (void)state;
    receiver_outcome o;
    assert_int_equal(classify(WEBHOOK, 200, NULL, NULL, "", &o), 0);
    assert_true(o.ok);
    assert_int_equal(o.retry_after_ms, -1);
    assert_int_equal(classify(WEBHOOK, 204, NULL, NULL, NULL, &o), 0);
    assert_int_equal(classify(DISCORD, 204, NULL, NULL, NULL, &o), 0);

    assert_int_equal(classify(WEBHOOK, 500, "text/plain", NULL, "internal\nerror\n", &o), -1);
    assert_true(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" webhook[0]: unexpected status code 500: internal error");
    assert_int_equal(classify(WEBHOOK, 503, NULL, "120", "", &o), -1);
    assert_true(o.retry);
    assert_int_equal(o.retry_after_ms, 120000);
    assert_string_equal(o.msg, "receiver \"ops\" webhook[0]: unexpected status code 503");
    /* An HTTP-date Retry-After, 90 s after now. */
    assert_int_equal(classify(WEBHOOK, 429, NULL, "Tue, 02 Jan 2024 03:07:30 GMT", "slow down", &o), -1);
    assert_true(o.retry);
    assert_int_equal(o.retry_after_ms, 90000);
    assert_int_equal(classify(WEBHOOK, 400, NULL, "junk", "bad", &o), -1);
    assert_false(o.retry);
    assert_int_equal(o.retry_after_ms, -1);
    assert_int_equal(classify(WEBHOOK, 404, NULL, NULL, "", &o), -1);
    assert_false(o.retry);
    assert_int_equal(classify(WEBHOOK, 302, NULL, NULL, "", &o), -1);
    assert_false(o.retry);
    /* Discord's rate limit: the JSON's retry_after (seconds). */
    assert_int_equal(classify(DISCORD, 429, "application/json", NULL,
                              "{\"message\": \"You are being rate limited.\", \"retry_after\": 0.75, \"global\": false}", &o),
                     -1);
    assert_true(o.retry);
    assert_int_equal(o.retry_after_ms, 750);
    assert_string_equal(o.msg, "receiver \"ops\" discord[0]: unexpected status code 429: You are being rate limited.");
    assert_int_equal(classify(DISCORD, 400, "application/json", NULL,
                              "{\"code\": 50006, \"message\": \"Cannot send an empty message\"}", &o),
                     -1);
    assert_false(o.retry);
    /* A long body is cut at a character boundary. */
    char body[2000];
    memset(body, 'x', sizeof body);
    memcpy(body + 254, "\xc3\xa9", 2);  /* é across the 256-byte cut */
    body[sizeof body - 1] = 0;
    classify(WEBHOOK, 500, NULL, NULL, body, &o);
    assert_true(strlen(o.msg) < sizeof o.msg);
    assert_non_null(strstr(o.msg, "x\xc3\xa9\xe2\x80\xa6"));
}

static void test_classify_slack(void **state) {
    (void)state;
    receiver_outcome o;
    assert_int_equal(classify(SLACK, 200, "text/html", NULL, "ok", &o), 0);
    assert_int_equal(classify(SLACK, 200, "text/plain", NULL, "invalid_token", &o), -1);
    assert_false(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" slack[0]: received an error response from Slack: invalid_token");
    assert_int_equal(classify(SLACK, 200, "application/json; charset=utf-8", NULL, "{\"ok\":true}", &o), 0);
    assert_int_equal(classify(SLACK, 200, "application/json", NULL, "{\"ok\":false,\"error\":\"channel_not_found\"}", &o),
                     -1);
    assert_false(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" slack[0]: error response from Slack: channel_not_found");
    assert_int_equal(classify(SLACK, 200, "application/json", NULL, "{not json", &o), -1);
    assert_true(o.retry);
    /* Rocket.Chat's incoming webhooks answer {"success":true}. */
    assert_int_equal(classify(SLACK, 200, "application/json", NULL, "{\"success\":true}", &o), 0);
    assert_int_equal(classify(SLACK, 404, "text/plain", NULL, "no_service", &o), -1);
    assert_false(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" slack[0]: unexpected status code 404: no_service");
    assert_int_equal(classify(SLACK, 429, "text/plain", "30", "rate_limited", &o), -1);
    assert_true(o.retry);
    assert_int_equal(o.retry_after_ms, 30000);
}

static void test_classify_telegram(void **state) {
    (void)state;
    receiver_outcome o;
    assert_int_equal(classify(TELEGRAM, 200, "application/json", NULL,
                              "{\"ok\":true,\"result\":{\"message_id\":5,\"chat\":{\"id\":1}}}", &o),
                     0);
    assert_int_equal(classify(TELEGRAM, 400, "application/json", NULL,
                              "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not found\"}", &o),
                     -1);
    assert_false(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" telegram[0]: unexpected status code 400: Bad Request: chat not found");
    assert_int_equal(classify(TELEGRAM, 429, "application/json", NULL,
                              "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 7\","
                              "\"parameters\":{\"retry_after\":7}}",
                              &o),
                     -1);
    assert_true(o.retry);
    assert_int_equal(o.retry_after_ms, 7000);
    assert_int_equal(classify(TELEGRAM, 200, "application/json", NULL,
                              "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was kicked\"}", &o),
                     -1);
    assert_false(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" telegram[0]: telegram error 403: Forbidden: bot was kicked");
    assert_int_equal(classify(TELEGRAM, 200, "text/html", NULL, "<html>", &o), -1);
    assert_false(o.retry);
}

static void test_classify_robots(void **state) {
    (void)state;
    receiver_outcome o;
    assert_int_equal(classify(DINGTALK, 200, "application/json", NULL, "{\"errcode\":0,\"errmsg\":\"ok\"}", &o), 0);
    assert_int_equal(classify(DINGTALK, 200, "application/json", NULL,
                              "{\"errcode\":310000,\"errmsg\":\"sign not match, more: [https://ding-doc.dingtalk.com/]\"}",
                              &o),
                     -1);
    assert_false(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" dingtalk[0]: errcode 310000: sign not match, more: "
                               "[https://ding-doc.dingtalk.com/]");
    assert_int_equal(classify(DINGTALK, 200, "application/json", NULL,
                              "{\"errcode\":130101,\"errmsg\":\"send too fast, exceed 20 times per minute\"}", &o),
                     -1);
    assert_true(o.retry);
    assert_int_equal(classify(DINGTALK, 200, "application/json", NULL, "{\"errcode\":-1,\"errmsg\":\"system busy\"}", &o),
                     -1);
    assert_true(o.retry);
    assert_int_equal(classify(DINGTALK, 200, "text/plain", NULL, "hello", &o), -1);
    assert_false(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" dingtalk[0]: unexpected response: hello");

    assert_int_equal(classify(WECOM, 200, "application/json", NULL, "{\"errcode\":0,\"errmsg\":\"ok\"}", &o), 0);
    assert_int_equal(classify(WECOM, 200, "application/json", NULL,
                              "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}", &o),
                     -1);
    assert_true(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" wecom[0]: errcode 45009: api freq out of limit");
    assert_int_equal(classify(WECOM, 200, "application/json", NULL,
                              "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}", &o),
                     -1);
    assert_false(o.retry);
    /* WeCom's and DingTalk's codes are not each other's. */
    assert_int_equal(classify(WECOM, 200, "application/json", NULL, "{\"errcode\":130101,\"errmsg\":\"x\"}", &o), -1);
    assert_false(o.retry);

    assert_int_equal(classify(FEISHU, 200, "application/json", NULL,
                              "{\"StatusCode\":0,\"StatusMessage\":\"success\",\"code\":0,\"data\":{},\"msg\":\"success\"}",
                              &o),
                     0);
    assert_int_equal(classify(FEISHU, 200, "application/json", NULL, "{\"StatusCode\":0,\"StatusMessage\":\"success\"}", &o),
                     0);
    assert_int_equal(classify(FEISHU, 200, "application/json", NULL,
                              "{\"code\":19021,\"data\":{},\"msg\":\"sign match fail or timestamp is not within one hour "
                              "from current time\"}",
                              &o),
                     -1);
    assert_false(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" feishu[0]: code 19021: sign match fail or timestamp is not within "
                               "one hour from current time");
    assert_int_equal(classify(FEISHU, 200, "application/json", NULL, "{\"code\":9499,\"msg\":\"too many request\"}", &o),
                     -1);
    assert_true(o.retry);
    assert_int_equal(classify(FEISHU, 200, "application/json", NULL, "{\"code\":11232,\"msg\":\"frequency limited\"}", &o),
                     -1);
    assert_true(o.retry);
    /* Feishu may also answer its rate limit with 400. */
    assert_int_equal(classify(FEISHU, 400, "application/json", NULL, "{\"code\":9499,\"msg\":\"Bad Request\"}", &o), -1);
    assert_true(o.retry);
    assert_string_equal(o.msg, "receiver \"ops\" feishu[0]: unexpected status code 400: Bad Request");
}

/* ------------------------------------------------------------ chat payloads */

/* The parsed JSON body of a request (fails the test when it is not). */
static json_t *body_json(const receiver_request *r) {
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    if (!j) fail_msg("body is not JSON: %s\n%s", e.text, r->body);
    return j;
}

/* A string member by path ("a.b.0.c"). */
static const char *jpath(json_t *j, const char *path) {
    char key[64];
    while (*path && j) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        if (json_is_array(j)) j = json_array_get(j, (size_t)atoi(key));
        else j = json_object_get(j, key);
        path += n + (path[n] == '.');
    }
    return json_is_string(j) ? json_string_value(j) : NULL;
}

static void test_slack_golden(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: team-ops.page\n    slack_configs:\n"
             "      - api_url: https://hooks.slack.com/services/T0/B0/XYZ\n        channel: '#ops'\n",
             &m, &l, &r);
    assert_string_equal(r.url, "https://hooks.slack.com/services/T0/B0/XYZ");
    assert_string_equal(header(&r, "Content-Type"), "application/json");
    golden("slack.json", r.body, r.body_len);
    json_t *j = body_json(&r);
    assert_string_equal(jpath(j, "attachments.0.title"), "[FIRING:2] HighLatency (node page)");
    assert_string_equal(jpath(j, "attachments.0.color"), "danger");
    assert_string_equal(jpath(j, "username"), "Alertmanager");
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);

    /* Resolved only (send_resolved on): green, [RESOLVED]. */
    m.alerts = &alerts3[2];
    m.nalerts = 1;
    build_ok("receivers:\n  - name: x\n    slack_configs:\n      - api_url: https://h/\n        send_resolved: true\n"
             "        text: '{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}'\n        link_names: true\n"
             "        mrkdwn_in: [text, title]\n",
             &m, &l, &r);
    j = body_json(&r);
    assert_string_equal(jpath(j, "attachments.0.color"), "good");
    assert_string_equal(jpath(j, "attachments.0.title"), "[RESOLVED] HighLatency (東京 web-3:9100 node page)");
    assert_string_equal(jpath(j, "attachments.0.text"), "Latency > 1s on web-3");
    assert_true(json_is_true(json_object_get(j, "link_names")));
    assert_string_equal(jpath(j, "attachments.0.mrkdwn_in.1"), "title");
    json_decref(j);
    receiver_request_free(&r);
    /* send_resolved off (Slack's default): nothing to send. */
    unload(&l);
    load_ok("receivers:\n  - name: x\n    slack_configs:\n      - api_url: https://h/\n", &l);
    errbuf err;
    assert_int_equal(receiver_build(first(&l), &m, &r, &err), 1);
    unload(&l);
}

static void test_discord_golden(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: team-ops.page\n    discord_configs:\n"
             "      - webhook_url: https://discord.com/api/webhooks/123/abc\n",
             &m, &l, &r);
    assert_string_equal(r.url, "https://discord.com/api/webhooks/123/abc");
    golden("discord.json", r.body, r.body_len);
    json_t *j = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(j, "embeds"), 0), "color")),
                     0x992D22);
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);
}

static void test_telegram_golden(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: team-ops.page\n    telegram_configs:\n"
             "      - bot_token: '123456:ABC-DEF'\n        chat_id: -1001234567890\n",
             &m, &l, &r);
    assert_string_equal(r.url, "https://api.telegram.org/bot123456:ABC-DEF/sendMessage");
    golden("telegram.json", r.body, r.body_len);
    json_t *j = body_json(&r);
    assert_string_equal(jpath(j, "chat_id"), "-1001234567890");
    assert_string_equal(jpath(j, "parse_mode"), "HTML");
    /* HTML mode escapes the data as html/template would. */
    assert_non_null(strstr(jpath(j, "text"), "Latency &gt; 1s on &lt;web-1&gt;"));
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);

    /* Plain text, a custom message, silent, in a topic. */
    build_ok("receivers:\n  - name: x\n    telegram_configs:\n      - bot_token: t\n        chat_id: 5\n"
             "        api_url: http://tg.local/\n        parse_mode: ''\n        disable_notifications: true\n"
             "        message_thread_id: 9\n"
             "        message: '{{ .Status }}: {{ range .Alerts.Firing }}{{ .Annotations.summary }}; {{ end }}'\n",
             &m, &l, &r);
    assert_string_equal(r.url, "http://tg.local/bott/sendMessage");
    assert_string_equal(r.body, "{\"chat_id\":\"5\",\"disable_notification\":\"true\",\"disable_web_page_preview\":\"true\","
                                "\"message_thread_id\":\"9\",\"text\":\"firing: Latency \\u003e 1s on \\u003cweb-1\\u003e; "
                                "Latency \\u003e 1s on web-2; \"}\n");
    receiver_request_free(&r);
    unload(&l);
}

static void test_dingtalk_golden(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: team-ops.page\n    dingtalk_configs:\n"
             "      - url: https://oapi.dingtalk.com/robot/send?access_token=abc\n",
             &m, &l, &r);
    assert_string_equal(r.url, "https://oapi.dingtalk.com/robot/send?access_token=abc");
    golden("dingtalk.json", r.body, r.body_len);
    json_t *j = body_json(&r);
    assert_string_equal(jpath(j, "msgtype"), "markdown");
    assert_string_equal(jpath(j, "markdown.title"), "[FIRING:2] HighLatency (node page)");
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);
}

static void test_wecom_golden(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: team-ops.page\n    wecom_configs:\n"
             "      - url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k\n",
             &m, &l, &r);
    golden("wecom.json", r.body, r.body_len);
    json_t *j = body_json(&r);
    assert_string_equal(jpath(j, "msgtype"), "markdown");
    assert_true(!strncmp(jpath(j, "markdown.content"), "### [FIRING:2] HighLatency (node page)\n", 39));
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);
}

static void test_feishu_golden(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: team-ops.page\n    feishu_configs:\n"
             "      - url: https://open.feishu.cn/open-apis/bot/v2/hook/abc\n        secret: feishu-secret\n",
             &m, &l, &r);
    golden("feishu.json", r.body, r.body_len);
    json_t *j = body_json(&r);
    assert_string_equal(jpath(j, "card.header.template"), "red");
    assert_string_equal(jpath(j, "card.header.title.content"), "[FIRING:2] HighLatency (node page)");
    assert_string_equal(jpath(j, "card.elements.0.tag"), "markdown");
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);
}

/* ------------------------------------------------------------ size limits */

/* The message text of a body for each integration type. */
static const char *message_text(json_t *j, receiver_type t) {
    switch (t) {
    case RECEIVER_TELEGRAM: return jpath(j, "text");
    case RECEIVER_DISCORD: return jpath(j, "embeds.0.description");
    case RECEIVER_SLACK: return jpath(j, "attachments.0.text");
    case RECEIVER_DINGTALK: return jpath(j, "markdown.text");
    case RECEIVER_WECOM: return jpath(j, "markdown.content");
    case RECEIVER_FEISHU: return jpath(j, "card.elements.0.content");
    default: return NULL;
    }
}

/* Characters in a UTF-8 string. */
static size_t runes(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static const struct {
    const char *name, *yaml;
    receiver_type type;
    size_t limit;
    int bytes;          /* the limit counts bytes of the text (2: of the whole body) */
} big_cases[] = {
    {"telegram_big.json", "receivers:\n  - name: x\n    telegram_configs:\n      - {bot_token: t, chat_id: 1}\n",
     RECEIVER_TELEGRAM, 4096, 0},
    {"discord_big.json", "receivers:\n  - name: x\n    discord_configs:\n      - webhook_url: https://d/\n",
     RECEIVER_DISCORD, 4096, 0},
    {"dingtalk_big.json", "receivers:\n  - name: x\n    dingtalk_configs:\n      - url: https://d/\n", RECEIVER_DINGTALK,
     20000, 1},
    {"wecom_big.json", "receivers:\n  - name: x\n    wecom_configs:\n      - url: https://w/\n", RECEIVER_WECOM, 4096, 1},
    {"feishu_big.json", "receivers:\n  - name: x\n    feishu_configs:\n      - url: https://f/\n", RECEIVER_FEISHU, 20000, 2},
    {NULL, "receivers:\n  - name: x\n    slack_configs:\n      - api_url: https://s/\n"
           "        text: '{{ range .Alerts }}{{ .Labels.instance }}: {{ .Annotations.summary }}\n{{ end }}'\n",
     RECEIVER_SLACK, 40000, 0},
};

/* 300 alerts with a long multi-byte annotation: every platform's message
 * is cut at its limit to whole alerts, with the count of the rest. */
static void test_big_groups(void **state) {
    (void)state;
    char ann[1024] = "";
    for (int i = 0; i < 40; i++) strcat(ann, "磁盘将满 ");   /* 13 bytes, 5 characters each */
    big_group b = big_make(300, ann);
    am_message m = big_message(&b);
    for (size_t c = 0; c < sizeof big_cases / sizeof big_cases[0]; c++) {
        loaded l;
        receiver_request r;
        build_ok(big_cases[c].yaml, &m, &l, &r);
        json_t *j = body_json(&r);
        const char *text = message_text(j, big_cases[c].type);
        assert_non_null(text);
        assert_true(utf8_valid(text, strlen(text)));
        size_t size = big_cases[c].bytes == 2 ? r.body_len : big_cases[c].bytes ? strlen(text) : runes(text);
        if (size > big_cases[c].limit) fail_msg("case %zu: %zu > %zu", c, size, big_cases[c].limit);
        assert_true(r.nalerts > 0 && r.nalerts < 300);
        assert_int_equal(r.nalerts + r.ntruncated, 300);
        char more[64];
        snprintf(more, sizeof more, "\n\n\xe2\x80\xa6 and %zu more alerts", r.ntruncated);
        size_t tl = strlen(text), ml = strlen(more);
        assert_true(tl > ml && !strcmp(text + tl - ml, more));
        /* One more alert would not have fitted: the count is the largest. */
        assert_true(size > big_cases[c].limit * 8 / 10);
        if (big_cases[c].name) golden(big_cases[c].name, r.body, r.body_len);
        json_decref(j);
        receiver_request_free(&r);
        unload(&l);
    }
    big_free(&b);
}

/* max_alerts of the robots limits the alerts listed. */
static void test_robot_max_alerts(void **state) {
    (void)state;
    big_group b = big_make(10, "disk almost full");
    am_message m = big_message(&b);
    loaded l;
    receiver_request r;
    build_ok("receivers:\n  - name: x\n    dingtalk_configs:\n      - url: https://d/\n        max_alerts: 3\n", &m, &l, &r);
    assert_int_equal(r.nalerts, 3);
    assert_int_equal(r.ntruncated, 7);
    json_t *j = body_json(&r);
    const char *text = jpath(j, "markdown.text");
    assert_non_null(strstr(text, "host-0002:9100"));
    assert_null(strstr(text, "host-0003:9100"));
    assert_non_null(strstr(text, "\xe2\x80\xa6 and 7 more alerts"));
    /* The title still counts the whole group. */
    assert_string_equal(jpath(j, "markdown.title"), "[FIRING:10] DiskFull (warning)");
    json_decref(j);
    receiver_request_free(&r);
    unload(&l);
    big_free(&b);
}

/* A text that does not shrink with fewer alerts is cut, at a character
 * boundary, with Alertmanager's "…". */
static void test_utf8_cut(void **state) {
    (void)state;
    char *huge = xmalloc(3 * 5000 + 2);
    huge[0] = 'x';                      /* shift the 3-byte characters off any alignment */
    for (int i = 0; i < 5000; i++) memcpy(huge + 1 + 3 * i, "\xe7\xa3\x81", 3);   /* 磁 */
    huge[1 + 3 * 5000] = 0;
    label ann[] = {{"summary", 7, huge, (uint32_t)strlen(huge)}};
    am_alert a = alerts3[0];
    a.annotations = ann;
    a.nannotations = 1;
    am_message m = message3();
    m.alerts = &a;
    m.nalerts = 1;
    static const struct {
        const char *yaml;
        receiver_type t;
        size_t limit;
        int bytes;
    } cases[] = {
        {"receivers:\n  - name: x\n    telegram_configs:\n      - bot_token: t\n        chat_id: 1\n"
         "        message: '{{ .CommonAnnotations.summary }}'\n",
         RECEIVER_TELEGRAM, 4096, 0},
        {"receivers:\n  - name: x\n    wecom_configs:\n      - url: https://w/\n        title: ''\n"
         "        message: '{{ .CommonAnnotations.summary }}'\n",
         RECEIVER_WECOM, 4096, 1},
        {"receivers:\n  - name: x\n    discord_configs:\n      - webhook_url: https://d/\n"
         "        title: '{{ .CommonAnnotations.summary }}'\n        message: '{{ .CommonAnnotations.summary }}'\n",
         RECEIVER_DISCORD, 4096, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        loaded l;
        receiver_request r;
        build_ok(cases[c].yaml, &m, &l, &r);
        json_t *j = body_json(&r);
        const char *text = message_text(j, cases[c].t);
        assert_true(utf8_valid(text, strlen(text)));
        size_t size = cases[c].bytes ? strlen(text) : runes(text);
        assert_true(size <= cases[c].limit);
        assert_true(size > cases[c].limit - 3);
        assert_string_equal(text + strlen(text) - 3, "\xe2\x80\xa6");
        if (cases[c].t == RECEIVER_DISCORD) {
            /* Discord's title: 256 characters, "…" last. */
            const char *title = jpath(j, "embeds.0.title");
            assert_int_equal(runes(title), 256);
            assert_string_equal(title + strlen(title) - 3, "\xe2\x80\xa6");
        }
        json_decref(j);
        receiver_request_free(&r);
        unload(&l);
    }
    free(huge);
}

/* A template that fails when executed fails the build with the
 * integration named. */
static void test_template_errors(void **state) {
    (void)state;
    am_message m = message3();
    loaded l;
    load_ok("receivers:\n  - name: x\n    telegram_configs:\n      - bot_token: t\n        chat_id: 1\n"
            "        message: '{{ .Nope }}'\n",
            &l);
    receiver_request r;
    errbuf err = {{0}};
    assert_int_equal(receiver_build(first(&l), &m, &r, &err), -1);
    assert_non_null(strstr(err.msg, "receiver \"x\" telegram[0]: template: message:1:3: executing \"message\" at <.Nope>: "
                                    "can't evaluate field Nope in type *template.Data"));
    assert_null(r.body);
    unload(&l);
}

/* ------------------------------------------------------------ main */

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_config),
        cmocka_unit_test(test_slack_config),
        cmocka_unit_test(test_discord_telegram_config),
        cmocka_unit_test(test_robot_configs),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_webhook_golden),
        cmocka_unit_test(test_webhook_max_alerts),
        cmocka_unit_test(test_send_resolved_off),
        cmocka_unit_test(test_go_json_escaping),
        cmocka_unit_test(test_url_file_and_errors),
        cmocka_unit_test(test_dingtalk_signature),
        cmocka_unit_test(test_feishu_signature),
        cmocka_unit_test(test_slack_golden),
        cmocka_unit_test(test_discord_golden),
        cmocka_unit_test(test_telegram_golden),
        cmocka_unit_test(test_dingtalk_golden),
        cmocka_unit_test(test_wecom_golden),
        cmocka_unit_test(test_feishu_golden),
        cmocka_unit_test(test_big_groups),
        cmocka_unit_test(test_robot_max_alerts),
        cmocka_unit_test(test_utf8_cut),
        cmocka_unit_test(test_template_errors),
        cmocka_unit_test(test_classify_http),
        cmocka_unit_test(test_classify_slack),
        cmocka_unit_test(test_classify_telegram),
        cmocka_unit_test(test_classify_robots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
