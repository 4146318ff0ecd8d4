"""Alert intake: webhooks from alert systems in, exactly one postmortem per incident out.

- `server`: the aiohttp service (`build_app`, `serve`), its routes and error contract
- `sources/`: one module per sender (Alertmanager, PagerDuty, Grafana, Opsgenie, generic v1) -> `Notification`
- `auth`, `config`: proof of origin (tokens, HMAC) and the intake's TOML configuration (secrets by reference)
- `policy`: the org's policy (cached, last good version kept): severity, required/optional/none and why
- `dispatch`: keeping the raw payload, duplicate memory, start / match / resolve / reopen / recurrence
- `api`: `open_postmortem` / `resolve_postmortem` for programs
- `child`: the intake as the worker's supervised child process (`python worker.py`)

See docs/intake.md.
"""
