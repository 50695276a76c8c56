// The direct side of bench/stores_azure.sh: Azure's own JavaScript client
// (@azure/data-tables, installed in tests/emulators/azure) doing what kumo's
// aztable driver does per operation, on the same table, partition and keys.
//
//   node bench/aztable_raw.mjs get|put CALLERS SECONDS KEYS TABLE STORE ENDPOINT
//
// get: getEntity(STORE, "key:N"); put: upsertEntity in Replace mode of the
// same properties kumo writes (s: the 1 KiB text value, ver: Int64), which
// is kumo's Insert Or Replace. CALLERS concurrent callers, each with its own
// client, as the SDK is meant to be used: async loops in one process
// (AZTABLE_RAW_PROCS=1: one process each, as kumo's callers are), for
// SECONDS; prints "OP CALLERS OPS_PER_S" like bench/stores.c. The key is
// AZURE_STORAGE_KEY, the account devstoreaccount1.
import { fork } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../tests/emulators/azure/package.json"));
const { TableClient, AzureNamedKeyCredential } = require("@azure/data-tables");

const [op, callers, seconds, keys, table, store, endpoint] = process.argv.slice(2);

async function caller(seed) {
    const cred = new AzureNamedKeyCredential("devstoreaccount1", process.env.AZURE_STORAGE_KEY);
    const c = new TableClient(`${endpoint}/devstoreaccount1`, table, cred, { allowInsecureConnection: true });
    const value = "x".repeat(1024);
    let n = 0, rnd = seed * 7919 + 1;
    const end = performance.now() + Number(seconds) * 1000;
    while (performance.now() < end) {
        rnd = (rnd * 1103515245 + 12345) % 2147483648;
        const rowKey = `key:${rnd % Number(keys)}`;
        if (op === "get") {
            await c.getEntity(store, rowKey);
        } else {
            await c.upsertEntity({ partitionKey: store, rowKey, s: value,
                                   ver: { value: String(Date.now() * 1000), type: "Int64" } }, "Replace");
        }
        n++;
    }
    return n;
}

if (process.env.AZTABLE_RAW_CHILD) {
    caller(Number(process.env.AZTABLE_RAW_CHILD)).then(n => process.send(n), e => {
        console.error(String(e));
        process.exit(1);
    });
} else if (!process.env.AZTABLE_RAW_PROCS) {
    const counts = await Promise.all(Array.from({ length: Number(callers) }, (_, i) => caller(i + 1)));
    console.log(`${op} ${callers} ${Math.round(counts.reduce((a, b) => a + b, 0) / Number(seconds))}`);
} else {
    let total = 0, done = 0;
    const me = fileURLToPath(import.meta.url);
    for (let i = 0; i < Number(callers); i++) {
        const ch = fork(me, process.argv.slice(2), { env: { ...process.env, AZTABLE_RAW_CHILD: String(i + 1) } });
        ch.on("message", n => {
            total += n;
            if (++done === Number(callers))
                console.log(`${op} ${callers} ${Math.round(total / Number(seconds))}`);
        });
        ch.on("exit", code => { if (code) process.exitCode = 1; });
    }
}
