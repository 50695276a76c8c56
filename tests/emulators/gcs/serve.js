// serve.js PORT: the Firebase emulator suite's Cloud Storage emulator
// (firebase-tools, lib/emulator/storage), which serves the GCS JSON API,
// on 127.0.0.1:PORT, started without `firebase emulators:start`.
//
// Why not the CLI: its start fetches a security-rules runtime (a jar) from
// Google's servers, which test machines cannot reach, and wants Java 21.
// The GCS JSON API (apis/gcloud.js) serves every request through the
// emulator's admin storage layer, which never consults rules, so the rules
// runtime is left out here; every other part is firebase-tools' own.
// Prints "ready" once it listens; stops on SIGTERM or SIGINT.
"use strict";
const path = require("path");
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error("usage: node serve.js PORT");
    process.exit(2);
}
const lib = path.join(__dirname, "node_modules", "firebase-tools", "lib", "emulator", "storage");
const { StorageEmulator } = require(path.join(lib, "index.js"));
const { EmulatorLogger } = require(path.join(lib, "..", "emulatorLogger.js"));
// the emulator's warnings (a failed request's stack) go to stderr
EmulatorLogger.prototype.log = function (type, text) {
    if (type === "WARN" || type === "WARN_ONCE")
        console.error(text);
};

const noRules = { start: async () => [], stop: async () => {}, getRuleset: () => undefined };
const emu = new StorageEmulator({ projectId: "demo-kumo", host: "127.0.0.1", port, auto_download: false });
emu._rulesRuntime = { start: async () => {}, stop: async () => {} };
emu._rulesManager = noRules;
emu.createRulesManager = () => noRules;

const { EmulatorRegistry } = require(path.join(lib, "..", "registry.js"));
EmulatorRegistry.start(emu).then(
    () => console.log("ready"),
    (err) => {
        console.error("storage emulator: " + (err && err.message ? err.message : err));
        process.exit(1);
    });
const stop = () => emu.stop().finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
