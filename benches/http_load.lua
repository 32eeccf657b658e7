-- wrk script of benches/http_load.sh: every request is the demo user unmuting demo-room, the
-- platform's curl example. Unmuting is idempotent, so every answer is the same 200.
wrk.method = "DELETE"
wrk.path = "/me/mute/demo-room"
wrk.headers["IM-CLIENT-KEY"] = "demo-client-key"
wrk.headers["IM-Authorization"] = "demo-token"
