-- wrk -s script for bench/validation-share.sh: every request POSTs the
-- JSON body in the file named by $BODY_FILE (the order of bench/validate.c).
local f = assert(io.open(assert(os.getenv("BODY_FILE"), "BODY_FILE not set"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
