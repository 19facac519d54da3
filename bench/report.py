"""Print the results table (markdown) from bench/results/*.json: `.venv/bin/python bench/report.py`.

Also writes it to bench/results/latest.md; paste it into bench/README.md after a full run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def pair(stats: dict[str, float]) -> str:
    return f"{ms(stats['p50'])} / {ms(stats['p95'])}"


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def soak_rows(sk: dict[str, Any]) -> list[str]:
    """The rows of one bench_soak.py run: leaks over the last window, errors and losses, backups."""
    t, tr, window = sk["targets"], sk["trends"], sk["window"]["minutes"]

    def moved(key: str) -> str:
        v = tr[key]
        return f"{v['first']:g} → {v['last']:g} ({v['slope_per_hour']:+.1f}/h)"

    head = f"Soak, {sk['users']} users for {sk['minutes']:g} min"
    rss = t["rss_growth_mb_per_hour"]["slope"]
    restore = sk.get("restore") or {}
    other = t["zero_lost"]["other_problems"]
    other_note = f" (+{other} other)" if other else ""
    return [
        f"| {head}: back-end RSS growth over the last {window:g} min | {rss:+.1f} MB/h "
        f"({tr['rss_mb']['first']:g} → {tr['rss_mb']['last']:g} MB) | < 5 MB/h | "
        f"{verdict(t['rss_growth_mb_per_hour']['met'])} |",
        f"| … open descriptors; asyncio tasks (same window) | {moved('fds')}; {moved('tasks')} | flat | "
        f"{verdict(t['fds_flat']['met'] and t['tasks_flat']['met'])} |",
        f"| … errors / lost messages ({sk['checks']['asks_saved']} answers, {sk['actions_total']} actions) | "
        f"{t['zero_errors']['errors']} / {t['zero_lost']['lost']}{other_note} | 0 | "
        f"{verdict(t['zero_errors']['met'] and t['zero_lost']['met'])} |",
        f"| … WAL at most; uploads left behind | {t['wal_checkpointed']['max_mb']:g} MB; "
        f"{t['no_orphaned_uploads']['orphans']} files | checkpointed; 0 | "
        f"{verdict(t['wal_checkpointed']['met'] and t['no_orphaned_uploads']['met'])} |",
        f"| … `manage backup` every {sk['options']['backup_minutes']:g} min passing `manage check`; the last one "
        f"restored | {t['backups_pass_check']['passed']} / {t['backups_pass_check']['backups']}; lost "
        f"{len(restore.get('missing_created_before_backup', []))}, {restore.get('missing_created_after_backup', '?')} "
        f"later messages not in it | all; only later ones | "
        f"{verdict(t['backups_pass_check']['met'] and t['restore_loses_only_later']['met'])} |",
    ]


def table() -> str:
    rows: list[str] = []
    machines: list[str] = []

    def note_machine(name: str, data: dict[str, Any]) -> None:
        m = data["machine"]
        end = data.get("load_avg_at_end", [])
        machines.append(f"| {name} | {m['date']} | {m['load_avg_at_start'][0]} → {end[0] if end else '?'} |")

    ops = load("app_ops")
    if ops:
        note_machine("bench_app_ops", ops)
        c, s, err = ops["seconds"]["concurrent"], ops["seconds"]["single_user"], ops["seconds"]["errors"]
        users = ops["users"]

        def op_row(label: str, key: str, target: float | None) -> None:
            shown = f"{pair(c[key])} (1 user: {ms(s[key]['p50'])})"
            errors = f", {len(err[key])} errors" if err[key] else ""
            if target is None:
                rows.append(f"| {label} | {shown}{errors} | — | (context) |")
            else:
                ok = c[key]["p95"] < target and not err[key]
                rows.append(f"| {label} | {shown}{errors} | < {ms(target)} | {verdict(ok)} |")

        op_row(f"Login, {users} at once", "login", 1.0)
        op_row(f"Agent list, {users} at once (page load; cache cold in round 1)", "agent_list_first_load", 2.0)
        op_row(f"Agent list reload, {users} at once (every one calls FabriX)", "agent_list_reload", 2.0)
        op_row(f"Conversation list (first 30 of 100 chats), {users} at once", "conversation_list", 1.0)
        op_row(
            f"Open a 500-message conversation (its newest 50), {users} at once", "open_500_message_conversation", None
        )
        op_row(f"Message save in that 500-message conversation, {users} at once", "message_save", 0.5)
        op_row(f"Message save in a 5-message conversation, {users} at once", "message_save_small_conversation", 0.5)
        other = ops["seconds"]["another_users_conversation_reload"]
        rows.append(
            f"| Another signed-in user's conversation list during the log-in burst | "
            f"{pair(other['during_login_burst'])} (idle: {ms(other['idle']['p50'])}) | — | (context) |"
        )
    ft = load("first_token")
    if ft:
        note_machine("bench_first_token", ft)
        a = ft["all"]["added_by_app"]
        rows.append(
            f"| First token added by the app, browser-observed ({a['n']} asks) | {pair(a)} | < 100 ms p95 | "
            f"{verdict(ft['target']['met'])} |"
        )
        big = ft.get("follow_up_in_500_message_conversation", {}).get("added_by_app")
        if big and big["n"]:
            rows.append(
                f"| … in a 500-message conversation, browser-observed ({big['n']} asks) | {pair(big)} | — | (context) |"
            )
        w = ft["websocket_client_follow_up"]["added_by_app"]
        rows.append(f"| … the server's share (Python websocket client, {w['n']} asks) | {pair(w)} | — | (context) |")
    st = load("50_streams")
    if st:
        note_machine("bench_50_streams", st)
        problems = {
            k: sum(len(p.get(k, [])) for p in st["phases"].values())
            for k in ("errors", "lost", "truncated", "different", "protocol")
        }
        answers = sum(p["asks"] for p in st["phases"].values())
        protocol_note = f" (+{problems['protocol']} protocol)" if problems["protocol"] else ""
        rows.append(
            f"| {st['users']} users streaming at once: errors / lost / truncated / different ({answers} answers) | "
            f"{problems['errors']} / {problems['lost']} / {problems['truncated']} / {problems['different']}"
            f"{protocol_note} | 0 | "
            f"{verdict(not any(problems.values()))} |"
        )
        for phase, p in st["phases"].items():
            rows.append(
                f"| … {phase} answers ({p['answer_chars']['p50']:.0f} chars): first token added by the app / "
                f"from send | {pair(p['first_token_added_by_app_seconds'])} / "
                f"{pair(p['first_token_from_send_seconds'])} | — | (context) |"
            )
        b = st["backend"]
        rows.append(
            f"| … backend CPU and memory during the 50 streams | {b['cpu_seconds']} CPU s in {b['wall_seconds']} s "
            f"({b['cpu_percent_of_one_core']} % of one core), peak RSS {b['rss_peak_mb']} MB | < 512 MB | "
            f"{verdict(b['rss_peak_mb'] < 512)} |"
        )
    peaks = [(n, d["backend"]["rss_peak_mb"]) for n, d in (("app_ops", ops), ("50_streams", st)) if d]
    up = load("upload")
    if up:
        note_machine("bench_upload", up)
        peaks.append(("upload", up["backend_during_browser_upload"]["rss_peak_mb"]))
        br, cl = up["browser_path"], up["client_path"]
        rows.append(
            f"| 100 MB upload end to end in the browser (upload + ask + answer) | {br['total_seconds']} s "
            f"(upload {br['upload_seconds']} s, ask {br['ask_and_answer_seconds']} s) | < 40 s | "
            f"{verdict(up['target']['met'])} |"
        )
        rows.append(
            f"| … the client alone (ask_with_file streams 100 MB from disk) | {cl['seconds']} s, "
            f"{cl['mb_per_second']} MB/s, +{cl['driver_peak_rss_growth_mb']} MB RSS | — | (context) |"
        )
    if peaks:
        worst = max(peaks, key=lambda p: p[1])
        rows.append(
            f"| Backend memory, peak RSS of the app's process tree in any benchmark | {worst[1]} MB ({worst[0]}) | "
            f"< 512 MB | {verdict(worst[1] < 512)} |"
        )
    ss = load("service_start")
    if ss:
        note_machine("bench_service_start", ss)
        r, first, before = ss["launcher_restart_seconds"], ss["launcher_first_start"], ss["before_reflex_run_prod"]
        rows.append(
            f"| Service mode restart with nothing changed, launch to first page ({r['n']} starts) | {pair(r)}, "
            f"peak {ss['launcher_restart_rss_peak_mb']} MB | < 3.00 s | {verdict(ss['target']['met'])} |"
        )
        rows.append(
            f"| … first start, building the front end once | {ms(first['seconds'])}, peak {first['rss_peak_mb']} MB "
            "| — | (context) |"
        )
        rows.append(
            f"| … before: `reflex run --env prod`, which built at every start | {ms(before['seconds'])}, peak "
            f"{before['rss_peak_mb']} MB | — | (context) |"
        )
    soaks = sorted(
        (json.loads(path.read_text(encoding="utf-8")) for path in RESULTS.glob("soak*.json")),
        key=lambda d: d["minutes"],
    )
    for sk in soaks:
        note_machine(f"bench_soak ({sk['minutes']:g} min)", sk)
        rows.extend(soak_rows(sk))
    sb = load("stream_bytes")
    if sb:
        note_machine("bench_stream_bytes", sb)
    head = "| Measurement (PRODUCT.md §9) | p50 / p95 (or value) | Target | Result |\n| --- | --- | --- | --- |\n"
    out = head + "\n".join(rows) + "\n"
    if sb:
        has_ratio = any("total_per_answer_byte" in v for v in sb["mean_by_answer_and_conversation_size"].values())
        if has_ratio:
            out += (
                "\nBytes received by the browser per streamed answer (websocket payload bytes, mean of the runs), "
                "by answer size and by the number of messages already in the conversation. Batches are the "
                "fabrixLive push scripts (each push carries only the added text); message frames the "
                "deltas of ConversationState's messages/added; until the question shows: from Enter to the "
                "delta that adds it:\n\n"
                "| Answer / messages before | total bytes | total / answer bytes | batches: bytes (count, largest) "
                "| message frames | sidebar frames | until the question shows | total minus batches |\n"
                "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
            )
            for key, v in sb["mean_by_answer_and_conversation_size"].items():
                ratio = v.get("total_per_answer_byte")
                out += (
                    f"| {key} | {v['total_bytes']:,} | {ratio if ratio is not None else '?'} | "
                    f"{v['batch_bytes']:,} ({v['batch_frames']}, {v['batch_max_frame']:,}) | "
                    f"{v['messages_bytes']:,} | {v['conversations_bytes']:,} | "
                    f"{'?' if v.get('question_bytes') is None else format(v['question_bytes'], ',')} | "
                    f"{'?' if v.get('non_batch_bytes') is None else format(v['non_batch_bytes'], ',')} |\n"
                )
        else:  # results of the scripts before the state split
            out += (
                "\nBytes received by the browser per streamed answer (websocket payload bytes, mean of the runs), "
                "by answer size and by the number of messages already in the conversation. Batches are the "
                "streaming updates; the message-list frames are the two updates that carry the whole message "
                "list (question shown, answer done), each with the 100-chat sidebar list as well:\n\n"
                "| Answer / messages before | total bytes | batches: bytes (count, largest) | message-list frames |\n"
                "| --- | --- | --- | --- |\n"
            )
            for key, v in sb["mean_by_answer_and_conversation_size"].items():
                out += (
                    f"| {key} | {v['total_bytes']:,} | {v['batch_bytes']:,} ({v['batch_frames']}, "
                    f"{v['batch_max_frame']:,}) | {v['messages_bytes']:,} |\n"
                )
    rb = load("redis_bytes")
    if rb:
        note_machine("bench_redis_bytes", rb)
        out += (
            "\nBytes written to Redis per answer (`INFO stats` total_net_input_bytes from Enter until the answer "
            f"ended and Redis went quiet, this script's INFO excepted; idle: {rb['idle']['bytes_per_second']} "
            "bytes/s):\n\n"
            "| Answer / turn | answer bytes | written to Redis | written / answer bytes | read from Redis "
            "| commands |\n| --- | --- | --- | --- | --- | --- |\n"
        )
        for key, v in rb["mean_by_answer_and_turn"].items():
            out += (
                f"| {key} | {v['answer_bytes']:,} | {v['redis_bytes_written_mean']:,} | "
                f"{v['written_per_answer_byte']} | {v['redis_bytes_read_mean']:,} | {v['redis_commands_mean']} |\n"
            )
    any_data = next((d for d in (ops, ft, st, up, sb, ss, rb) if d), None)
    if any_data:
        m = any_data["machine"]
        out += (
            f'\nMachine: {m["cores"]} cores, {m["ram_mb"]:,} MB RAM, CPU "{m["cpu_model"]}", Python {m["python"]}, '
            f"{m['platform']}.\n\n| Benchmark | Run at | Load average (1 min) start → end |\n| --- | --- | --- |\n"
            + "\n".join(machines)
            + "\n"
        )
    return out


def main() -> None:
    text = table()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
