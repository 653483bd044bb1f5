/* csphub: the command for people. Panel coordinators work their queue
 * (queue, watch, alert), auditors export the log (replay, rejects), IT
 * staff load and check (publish, stats, ping). Everything goes through the
 * client library (include/csphub.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"

static const struct cli_command commands[] = {
    {"publish", cli_cmd_publish, "publish events from a JSON-lines file (one event a line)",
     "csphub publish [FILE|-] [--json]",
     "Reads events, one JSON object a line, from FILE (or standard input when\n"
     "FILE is - or absent) and publishes them, many in flight at once. Blank\n"
     "lines are skipped. Publishing the same file again is harmless: the hub\n"
     "recognises every event it already holds and answers `duplicate`.\n"
     "\n"
     "Prints a summary: events read, accepted, duplicate, rejected (by error\n"
     "code) and the first rejections with their line number, field and reason.\n"
     "\n"
     "Exit status: 0 all accepted or duplicate; 3 some were rejected; 1 the hub\n"
     "could not be reached or stopped answering; 2 usage.\n"
     "\n"
     "Options:\n"
     "  --json          print the summary as one JSON object\n"
     "\n"
     "Examples:\n"
     "  csphub publish police-2025-03-01.jsonl\n"
     "  generate-events | csphub publish -\n"
     "  csphub publish --json housing.jsonl > summary.json\n"},
    {"watch", cli_cmd_watch, "print a panel's new alerts as they arrive",
     "csphub watch PANEL --consumer NAME [--from now] [--once | --count N] [--json]",
     "Prints the panel's new alerts as they arrive (within a second of the\n"
     "event that raised them) until Ctrl-C. Each alert is acknowledged to the\n"
     "hub once it has been printed, so running again with the same consumer\n"
     "name continues where the last run stopped; an alert printed is never\n"
     "lost to Ctrl-C, and one not yet printed comes again next time.\n"
     "\n"
     "Options:\n"
     "  --consumer NAME  who is reading (1-64 characters); each name has its own\n"
     "                   place in the queue. Required.\n"
     "  --from now       skip the alerts already on the queue: print only those\n"
     "                   raised from now on (default: from where NAME stopped)\n"
     "  --once           print what is new now, then exit\n"
     "  --count N        exit after N alerts\n"
     "  --json           one JSON object a line, each alert as the hub sends it\n"
     "\n"
     "If the hub stops answering while watching, watch says so and keeps\n"
     "trying; it exits 1 only when the hub cannot be reached at the start.\n"
     "\n"
     "Examples:\n"
     "  csphub watch marac --consumer marac-coordinator\n"
     "  csphub watch asb-case-review --consumer asb-team --once\n"
     "  csphub watch marac --consumer bridge --json | my-case-system-import\n"},
    {"queue", cli_cmd_queue, "a panel's alerts: id, priority, age, due, status, reason",
     "csphub queue PANEL [--status S] [--priority P] [--person REF] [--rule R] [--overdue] "
     "[--limit N] [--json]",
     "Lists the panel's alerts, oldest first, as a table: id, priority, age\n"
     "(since it was raised: 45m, 6h, 3d), due date (OVERDUE when it has passed\n"
     "and the alert is still open: no decision recorded), status and reason. On\n"
     "a terminal the reason is cut to the window's width; --json gives all, and\n"
     "`csphub alert show ID` one alert in full. The filters run on the hub.\n"
     "\n"
     "Options:\n"
     "  --status S     only alerts with status S: open, acknowledged, accepted,\n"
     "                 declined or closed\n"
     "  --priority P   only alerts of priority P: standard, medium or high\n"
     "  --person REF   only alerts whose key holds the person reference REF\n"
     "  --rule R       only alerts raised by rule R (its full name)\n"
     "  --overdue      only open alerts past their due date (the hub's clock)\n"
     "  --limit N      at most N alerts (the oldest first)\n"
     "  --json         one JSON object a line, each alert as the hub sends it\n"
     "                 (with its rule, key, evidence and dates)\n"
     "  --page N       alerts asked for in one request (1-1000, default 500)\n"
     "\n"
     "Examples:\n"
     "  csphub queue marac\n"
     "  csphub queue asb-case-review --status open\n"
     "  csphub queue marac --overdue --priority high\n"
     "  csphub queue marac --person P-1042\n"
     "  csphub queue community-marac --json > community-marac.jsonl\n"},
    {"alert", cli_cmd_alert, "show an alert in full, or record a decision on it",
     "csphub alert show ID [--json] | csphub alert ID ack|accept|decline|close|reopen "
     "[--note TEXT] [--expect S] [--by NAME] [--json]",
     "`alert show ID` prints one alert in full: its whole reason, rule and rule\n"
     "set, priority, due date, the events that are its evidence (time, source,\n"
     "type and fields) and every decision with who, when and the note.\n"
     "\n"
     "Otherwise records the panel's decision on alert ID, written to the hub's\n"
     "log as an alert.status event, so it can be audited and replayed. The\n"
     "status moves open -> acknowledged -> accepted or declined -> closed\n"
     "(acknowledging may be skipped), and closed -> open with a note; the hub\n"
     "refuses any other move (exit 3), naming the alert's current status.\n"
     "\n"
     "  ack       acknowledged: seen, not yet decided\n"
     "  accept    accepted: the panel takes the case\n"
     "  decline   declined: the panel does not take it\n"
     "  close     closed: the panel is done with it\n"
     "  reopen    open again (needs --note)\n"
     "\n"
     "Options:\n"
     "  --note TEXT  why, for the record (up to 2,000 bytes)\n"
     "  --expect S   the status you saw: refused if someone changed it since\n"
     "  --by NAME    who decides (security none only; with a key the hub\n"
     "               records the key's identity)\n"
     "  --json       show: {alert, decisions, events}; a decision:\n"
     "               {\"id\":..,\"status\":..,\"seq\":..}\n"
     "\n"
     "Sending the same decision again (a lost reply) is safe: the hub answers\n"
     "with the seq it recorded the first time and writes nothing.\n"
     "\n"
     "Examples:\n"
     "  csphub alert show 12\n"
     "  csphub alert 12 accept --note \"Listed for the 14 March meeting\" --expect open\n"
     "  csphub alert 13 decline --note \"Below threshold: single household\"\n"
     "  csphub alert 13 reopen --note \"A new incident on 2 April\"\n"},
    {"replay", cli_cmd_replay, "export events from the log as JSON lines",
     "csphub replay [--after N] [--until N] [--since T] [--till T] [--types a,b] "
     "[--person P] [--max N]",
     "Writes every event in the log that matches, oldest first, one JSON object\n"
     "a line: {\"seq\":..,\"received_at\":..,\"event\":{...}}, the event exactly as\n"
     "the hub accepted it. Output is always JSON lines.\n"
     "\n"
     "Options:\n"
     "  --after N      events after sequence number N\n"
     "  --until N      events up to and including sequence number N\n"
     "  --since T      events that occurred at or after T (RFC 3339, e.g.\n"
     "                 2025-03-01T00:00:00Z, or a date 2025-03-01 meaning its\n"
     "                 midnight UTC)\n"
     "  --till T       events that occurred before T\n"
     "  --types a,b    only these event types (asb.report,da.incident,...)\n"
     "  --person P     only events that name person reference P in any field\n"
     "  --max N        at most N events\n"
     "  --page N       events asked for in one request (1-10000, default 1000)\n"
     "\n"
     "Examples:\n"
     "  csphub replay > whole-log.jsonl\n"
     "  csphub replay --person P-1042 --since 2024-04-01\n"
     "  csphub replay --types da.incident,referral --after 5000 --max 100\n"},
    {"stats", cli_cmd_stats, "the hub's counters", "csphub stats [--json]",
     "Prints the hub's counters: events accepted, duplicates, rejections by\n"
     "error code, alerts by panel, commits, the last sequence number, uptime.\n"
     "\n"
     "Options:\n"
     "  --json   {\"counters\":{...}} as one JSON object\n"
     "\n"
     "Examples:\n"
     "  csphub stats\n"
     "  csphub stats --json | jq .counters.accepted\n"},
    {"rejects", cli_cmd_rejects, "the events the hub refused, with why",
     "csphub rejects [--after N] [--max N] [--json]",
     "Lists the rejections the hub keeps, oldest first: when, from which\n"
     "source, the error (code, field, reason) and the rejected event itself as\n"
     "JSON (when it was MessagePack), so it can be fixed and sent again.\n"
     "\n"
     "Options:\n"
     "  --after N   rejections after number N\n"
     "  --max N     at most N rejections\n"
     "  --json      one JSON object a line: {\"id\",\"received_at\",\"source\",\n"
     "              \"error\",\"event\"} (\"bytes_base64\" instead of \"event\" when\n"
     "              the bytes were not MessagePack)\n"
     "  --page N    rejections asked for in one request (1-10000, default 1000)\n"
     "\n"
     "Examples:\n"
     "  csphub rejects\n"
     "  csphub rejects --after 120 --json > to-fix.jsonl\n"},
    {"ping", cli_cmd_ping, "check that the hub answers: its version and last seq",
     "csphub ping [--json]",
     "Asks the hub for its version and the sequence number of the last event\n"
     "in its log, and shows how long the answer took.\n"
     "\n"
     "Examples:\n"
     "  csphub ping\n"
     "  csphub --hub tcp://10.0.0.5:7450 --timeout 2s ping\n"},
    {"report", cli_cmd_report, "the partnership's figures by month: targets, RAG, last year",
     "csphub report --from DATE --to DATE [--area NAME] [--as-of SEQ]\n"
     "       [--format table|csv|json|html] [--explain INDICATOR --month YYYY-MM]",
     "Asks the hub for the indicators of config/indicators.yaml over a period:\n"
     "each by Europe/London calendar month and in total, the same months a year\n"
     "before, the change, the target or band, RAG status and direction of travel.\n"
     "The hub computes it from its log as of one seq (printed with the log's\n"
     "chain link), so the same --as-of gives byte-identical CSV and JSON. Counts\n"
     "under 5 are shown as <5 and figures that would give them away as *.\n"
     "A strategic identity (scrutiny committee, CSP board) may ask only for whole\n"
     "months and configured areas; every report run is recorded in the log\n"
     "(audit.access). docs/reports.md says how each figure is counted.\n"
     "\n"
     "Options:\n"
     "  --from DATE       first day, YYYY-MM-DD (or YYYY-MM: its first day)\n"
     "  --to DATE         last day, inclusive (or YYYY-MM: its last day)\n"
     "  --area NAME       an area of config/areas.yaml (default: the whole\n"
     "                    partnership, with the records whose area was not recorded)\n"
     "  --as-of SEQ       count the log up to this seq (default: its last)\n"
     "  --format F        table (default), csv, json, or html: one page to print\n"
     "                    on A3, with a chart and a table for each indicator\n"
     "  --unsuppressed    auditors: the small numbers as they are\n"
     "  --explain NAME --month YYYY-MM\n"
     "                    auditors: the events, alerts or people one month's figure\n"
     "                    counted (recorded in the log like every report)\n"
     "\n"
     "Examples:\n"
     "  csphub report --from 2025-04-01 --to 2026-03-31\n"
     "  csphub report --from 2025-04 --to 2026-03 --area north --format html > report.html\n"
     "  csphub report --from 2025-04 --to 2026-03 --as-of 1843022 --format csv\n"
     "  csphub report --from 2025-04 --to 2026-03 --explain asb.repeat-callers --month 2025-06\n"},
    {"erase", cli_cmd_erase, "erase or restrict a person's records on request (dpo)",
     "csphub erase --person P --reason TEXT [--basis art17|art18|s47] [--restrict [--lift]] "
     "[--apply]",
     "For the data protection officer (a dpo identity in security curve; in\n"
     "security none anyone, and the log records the OS user). Finds every event\n"
     "naming the person and prints what would change; only --apply changes it.\n"
     "Erasure rewrites each event without the person's fields: an event that\n"
     "names someone else keeps their part, one that names nobody else keeps\n"
     "only its id, type, time and source. --restrict keeps the records but only\n"
     "dpo and auditor identities may read them (DPA 2018 s.47(2): evidence),\n"
     "and every event naming the person that arrives later is restricted too,\n"
     "until --restrict --lift ends it (for the old and the new alike).\n"
     "Either way the request is an event in the log (dp.erasure: who, why, the\n"
     "basis, which seqs), never the person's reference; the log still verifies\n"
     "(csphubd --verify, scripts/check-chain.py). A resend of an erased event\n"
     "is answered duplicate and never enters again. After an erasure, stop the\n"
     "hub and run csphubd --compact so that no free page or journal file keeps\n"
     "the old bytes.\n"
     "\n"
     "Options:\n"
     "  --person P        the person reference (as the agencies send it)\n"
     "  --reason TEXT     why (required; kept in the log for good: do not name\n"
     "                    the person, the hub refuses a reason that does)\n"
     "  --basis B         art17 (UK GDPR Art. 17, the default for erasure),\n"
     "                    art18 (Art. 18, the default for --restrict) or s47\n"
     "                    (DPA 2018 s.47, law-enforcement processing)\n"
     "  --restrict        restrict instead of erasing\n"
     "  --lift            with --restrict: end the person's restriction\n"
     "  --apply           do it (without: print what would change, change nothing)\n"
     "\n"
     "Examples:\n"
     "  csphub erase --person P-1042 --reason \"DPO case 2026/117: recorded in error\"\n"
     "  csphub erase --person P-1042 --reason \"DPO case 2026/117\" --apply\n"
     "  csphub erase --person P-77 --reason \"DPO case 2026/118\" --restrict --basis s47 --apply\n"
     "  csphub erase --person P-77 --reason \"DPO case 2026/118 closed\" --restrict --lift --apply\n"},
    {"hold", cli_cmd_hold, "put a person's records under legal hold, or release it (dpo)",
     "csphub hold --person P --reason TEXT [--release]",
     "For the data protection officer, when a statutory review (a domestic\n"
     "homicide review, a safeguarding adults review) needs a person's records\n"
     "kept: while the hold stands, csphub erase refuses that person. The hold\n"
     "and its release are events in the log (dp.hold: who, the reason, the\n"
     "person); an erasure after the release rewrites them like any record of\n"
     "the person.\n"
     "\n"
     "Options:\n"
     "  --person P        the person reference\n"
     "  --reason TEXT     the review or case (required; kept in the log for good:\n"
     "                    the hub refuses a reason that names the person)\n"
     "  --release         end the hold\n"
     "\n"
     "Examples:\n"
     "  csphub hold --person P-1042 --reason \"DHR 2026/03\"\n"
     "  csphub hold --person P-1042 --reason \"DHR 2026/03 concluded\" --release\n"},
    {"sar", cli_cmd_sar, "export what the hub holds about a person: subject access (dpo)",
     "csphub sar --person P --reason TEXT [--out DIR]",
     "For the data protection officer (a dpo identity in security curve; in\n"
     "security none anyone, and the log records the OS user). Writes into DIR\n"
     "(default sar-SEQ, created mode 0700, files 0600; existing files are never\n"
     "overwritten):\n"
     "  review.json, review.html   the review pack: every event naming the\n"
     "      person (found through the person index), every alert keyed on them\n"
     "      with its reason and decisions, every audited read that returned\n"
     "      them (who, role, query), each with the withholdings the hub\n"
     "      proposes and why, and the placeholder of each third party;\n"
     "  disclosure.json, disclosure.html   the copy for the person: third\n"
     "      parties' references replaced by placeholders, restricted panels'\n"
     "      material (Channel, MAPPA) and legal holds left out without a trace,\n"
     "      readers shown by role and organisation, never by name.\n"
     "Review both before anything is sent. The request is an event in the log\n"
     "(dp.sar: who and why, never the person).\n"
     "\n"
     "Options:\n"
     "  --person P        the person reference\n"
     "  --reason TEXT     the request's reference (required; kept in the log for\n"
     "                    good: the hub refuses a reason that names the person)\n"
     "  --out DIR         where to write the four files (default sar-SEQ, SEQ\n"
     "                    the dp.sar event's seq)\n"
     "\n"
     "Examples:\n"
     "  csphub sar --person P-1042 --reason \"SAR 2026/114\"\n"
     "  csphub sar --person P-1042 --reason \"SAR 2026/114\" --out /srv/dpo/sar-114\n"},
    {"case", cli_cmd_case, "a panel's cases: list, show, close with an outcome, review, re-risk",
     "csphub case list PANEL [--status open|closed|all] | case show PANEL KEY | "
     "case close PANEL KEY --outcome O | case review PANEL KEY [--risk R] | "
     "case risk PANEL KEY --risk R",
     "A case is a panel and a key (a person reference): it opens when the panel\n"
     "accepts an alert (or a referral) for that key and closes with an outcome\n"
     "from the panel's list (config/panels.yaml). Its risk level sets how often\n"
     "it is reviewed; a review due is an alert with rule review.due on the\n"
     "panel's queue. Every change is written to the hub's log.\n"
     "\n"
     "  list PANEL        the panel's cases (open unless --status closed or all);\n"
     "                    REVIEW is the next review (! when one is waiting)\n"
     "  show PANEL KEY    one case with its actions\n"
     "  close PANEL KEY   close it: --outcome is required\n"
     "  review PANEL KEY  record a review (closes the review.due alert; the next\n"
     "                    review is set from the risk, or --risk when given)\n"
     "  risk PANEL KEY    a new --risk (standard, medium, high): the next review\n"
     "                    moves to that level's cadence\n"
     "\n"
     "Options:\n"
     "  --status S   list: open, closed or all\n"
     "  --outcome O  close: one of the panel's outcomes\n"
     "  --risk R     standard, medium or high\n"
     "  --by NAME    who (security none only; with a key the hub records it)\n"
     "  --json       the hub's reply as one JSON line\n"
     "\n"
     "Examples:\n"
     "  csphub case list marac\n"
     "  csphub case show marac P-1042\n"
     "  csphub case risk marac P-1042 --risk medium\n"
     "  csphub case close iom P-77 --outcome completed\n"},
    {"action", cli_cmd_action, "actions a panel sets: list, create, update; an agency's own",
     "csphub action list PANEL [--key K] [--owner O] [--status S] | action mine | "
     "action create PANEL KEY --what TEXT --owner NAME (--due-days N | "
     "--due-working-days N | --due YYYY-MM-DD) [--alert ID] | "
     "action update PANEL ID --status done|not_done|retimed [--reason TEXT] [--due...]",
     "An action is something a panel asks an agency (or a console account) to do\n"
     "for a case, by a date. One past its due date with no update is escalated\n"
     "once to the panel's queue (an alert with rule action.overdue).\n"
     "\n"
     "  list PANEL         the panel's incomplete actions (--key: a case's, all;\n"
     "                     --owner: one agency's on this panel)\n"
     "  mine               an agency's own actions, on every panel (with the\n"
     "                     agency's key; a restricted panel's show only that\n"
     "                     they exist)\n"
     "  create PANEL KEY   --what, --owner and one due option are required;\n"
     "                     --alert names the decision it comes with\n"
     "  update PANEL ID    --status done, not_done (needs --reason) or retimed\n"
     "                     (needs a new due option)\n"
     "\n"
     "Options:\n"
     "  --due-days N          due N days from now\n"
     "  --due-working-days N  due N working days from now (weekends and bank\n"
     "                        holidays skipped)\n"
     "  --due YYYY-MM-DD      due by the end of that day (London time)\n"
     "  --by NAME, --json     as for case\n"
     "\n"
     "Examples:\n"
     "  csphub action create marac P-1042 --what \"Safety plan\" --owner idva --due-days 7\n"
     "  csphub action update marac 3 --status done\n"
     "  csphub action update marac 4 --status retimed --due 2025-07-04 --reason \"School shut\"\n"
     "  csphub --key police.key --server-key hub.pub action mine\n"},
    {"meeting", cli_cmd_meeting, "a panel's meetings: the agenda, issuing it, recording a hearing",
     "csphub meeting agenda PANEL [--date YYYY-MM-DD] [--issue] | "
     "meeting hear PANEL KEY --attend A,B,... [--date YYYY-MM-DD] [--minutes TEXT]",
     "The agenda of the panel's next meeting (its calendar in config/panels.yaml)\n"
     "or of --date: cases new since the last meeting, reviews due, incomplete\n"
     "actions, cases 12 months since their last hearing and, for a panel with a\n"
     "look-back list (SGV), the events of the weeks before.\n"
     "\n"
     "  agenda PANEL    print it; --issue also records it in the log (a\n"
     "                  meeting.agenda event)\n"
     "  hear PANEL KEY  record that the meeting heard the case: --attend lists\n"
     "                  the agencies present; --minutes the decision; --date the\n"
     "                  meeting's date (default today)\n"
     "\n"
     "Examples:\n"
     "  csphub meeting agenda sgv\n"
     "  csphub meeting agenda marac --date 2025-06-04 --issue\n"
     "  csphub meeting hear sgv Y-17 --attend police,youth-justice --minutes \"Weekly visits\"\n"},
    {"keygen", cli_cmd_keygen, "make a CURVE key pair for the hub or one of its users",
     "csphub keygen NAME [--dir DIR] [--json]",
     "For a hub with `security: curve`. Writes NAME.key (the key pair: SECRET,\n"
     "mode 0600, for that hub, person or system only) and NAME.pub (the public\n"
     "key, mode 0644) into DIR, and prints the public key. Keys are never\n"
     "overwritten.\n"
     "\n"
     "  - the hub's own pair: `csphub keygen hub`, then server_key_file: hub.key\n"
     "    in the hub's config; give hub.pub to every user (--server-key).\n"
     "  - a user's pair: list NAME.pub in the hub's identity file with a role\n"
     "    (agency, panel, auditor, admin); the user runs csphub with\n"
     "    --key NAME.key --server-key hub.pub.\n"
     "Needs no hub.\n"
     "\n"
     "Options:\n"
     "  --dir DIR   where to write the files (default: the current directory)\n"
     "  --json      {\"name\",\"public\",\"key_file\",\"pub_file\"}\n"
     "\n"
     "Examples:\n"
     "  csphub keygen hub --dir /etc/csphub\n"
     "  csphub keygen marac-coordinator\n"
     "  csphub --key marac-coordinator.key --server-key hub.pub queue marac\n"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char general_help[] =
    "The csphub command: publish events to a csphub hub, work a panel's alert\n"
    "queue, and read the log. For panel coordinators, auditors and IT staff.\n";

static const char options_help[] =
    "Options (before or after the command):\n"
    "  --hub ENDPOINT  the hub: tcp://HOST:PORT or ipc://PATH (default: $CSPHUB_HUB,\n"
    "                  else " CLI_DEFAULT_HUB ")\n"
    "  --json          machine-readable output (JSON; JSON lines for lists)\n"
    "  --timeout T     give up when the hub has not answered in T, a duration\n"
    "                  with its unit as in every csphub program: 500ms, 10s,\n"
    "                  2m (default 10s)\n"
    "  --key FILE      for a hub with security curve: your key file (NAME.key,\n"
    "                  from csphub keygen; default $CSPHUB_KEY)\n"
    "  --server-key K  the hub's public key: its .pub file or the 40 characters\n"
    "                  (default $CSPHUB_SERVER_KEY)\n"
    "  -h, --help      help; `csphub COMMAND --help` for one command\n";

static const char exit_help[] =
    "Exit status:\n"
    "  0  done\n"
    "  1  the hub could not be reached, did not answer within --timeout, or\n"
    "     failed (internal, busy)\n"
    "  2  usage: unknown command or option, missing or bad argument\n"
    "  3  the hub refused something: events rejected, no such alert (not_found),\n"
    "     no such panel (unknown_panel), not allowed (forbidden), ...; its reason\n"
    "     is printed on stderr as  csphub: <code>: <message> (field <f>)\n";

static void print_general_help(FILE *f)
{
    fprintf(f, "usage: csphub [--hub ENDPOINT] [--json] [--timeout T] [--key FILE --server-key K]\n"
               "              COMMAND [ARGS...]\n\n%s\n"
               "Commands:\n",
            general_help);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n%s\n%s\n", options_help, exit_help);
    fprintf(f, "Examples:\n"
               "  csphub ping\n"
               "  csphub publish police-2025-03-01.jsonl\n"
               "  csphub queue marac\n"
               "  csphub alert 12 accept --note \"Listed for 14 March\"\n"
               "  csphub watch marac --consumer marac-coordinator\n"
               "  csphub replay --person P-1042 > p-1042.jsonl\n"
               "\nMore: docs/csphub-command.md\n");
}

void cli_print_help(const struct cli_command *cmd)
{
    printf("usage: %s\n\n%s\n%s\n%s", cmd->usage, cmd->help, options_help, exit_help);
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *env = getenv("COLUMNS");
    int n = env ? atoi(env) : 0;
    return n > 0 ? n : 80;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    c.hub = getenv("CSPHUB_HUB");
    if (!c.hub || !*c.hub)
        c.hub = CLI_DEFAULT_HUB;
    c.timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
    c.key_file = getenv("CSPHUB_KEY");
    c.server_key = getenv("CSPHUB_SERVER_KEY");
    if (c.key_file && !*c.key_file)
        c.key_file = NULL;
    if (c.server_key && !*c.server_key)
        c.server_key = NULL;
    c.tty = isatty(STDOUT_FILENO);
    c.columns = c.tty ? terminal_columns() : 0;
    /* Ages and deadlines are shown against the wall clock; CSPHUB_NOW (RFC
     * 3339) stands in for it, so what the table shows can be tested. */
    const char *now = getenv("CSPHUB_NOW");
    if (!now || cli_time_parse(now, &c.now_ms, NULL) != 0) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        c.now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    }

    /* The global options, up to the command's name. */
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {"version", no_argument, NULL, 'V'},
                                         {0, 0, 0, 0}};
    static const struct cli_command top = {"", NULL, "", "csphub [OPTIONS] COMMAND [ARGS...]",
                                           ""};
    c.command = &top;
    cli_getopt_reset();
    int opt;
    while ((opt = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
        if (opt == 'h') {
            print_general_help(stdout);
            return CLI_OK;
        }
        if (opt == 'V') {
            printf("csphub %s (CSPH/1)\n", CSPH_CLIENT_VERSION);
            return CLI_OK;
        }
        int rc = cli_common_option(&c, opt, optarg, argv);
        if (rc != CLI_OK)
            return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    }
    if (optind >= argc) {
        fprintf(stderr, "csphub: no command given\n\n");
        print_general_help(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        const struct cli_command *cmd = optind + 1 < argc ? find_command(argv[optind + 1]) : NULL;
        if (optind + 1 < argc && !cmd) {
            fprintf(stderr, "csphub: unknown command '%s' (see csphub --help)\n",
                    argv[optind + 1]);
            return CLI_USAGE;
        }
        if (cmd)
            cli_print_help(cmd);
        else
            print_general_help(stdout);
        return CLI_OK;
    }
    c.command = find_command(name);
    if (!c.command) {
        fprintf(stderr, "csphub: unknown command '%s'; the commands are:", name);
        for (size_t i = 0; i < NCOMMANDS; i++)
            fprintf(stderr, " %s", commands[i].name);
        fprintf(stderr, " (see csphub --help)\n");
        return CLI_USAGE;
    }
    int rc = c.command->run(&c, argc - optind, argv + optind);
    if (rc == CLI_HELP_SHOWN)
        rc = CLI_OK;
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_warn("writing the output failed");
        rc = CLI_FAIL;
    }
    csph_client_close(&c.client);
    return rc;
}
