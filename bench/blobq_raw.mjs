// The vendor's side of bench/stores_blobq.sh: Google's and Azure's own
// JavaScript clients (pinned in bench/clients) doing what bench/stores_blobq.c
// does through kumo, on the same emulator, with 1 KiB objects and messages.
//
//   node bench/blobq_raw.mjs DRIVER OP CALLERS SECONDS KEYS ENDPOINT NAME [PROJECT]
//     DRIVER: gcs | pubsub | azblob | azqueue
//     OP:     blob-put | blob-get | queue-send | queue-recv
//
// gcs (@google-cloud/storage, apiEndpoint = the Firebase storage emulator):
//   put file.save(data, {resumable: false}) (one multipart upload), get
//   file.download(), of "vendor/obj/N" in bucket NAME.
// pubsub (@google-cloud/pubsub, apiEndpoint = the emulator, gRPC): send
//   topic.publishMessage with batching off (maxMessages 1, so each send is
//   its own Publish as kumo's is); receive v1.SubscriberClient's pull of one
//   message (returnImmediately) and acknowledge, on topic and subscription
//   NAME, which are made first. kumo's driver speaks REST to the same server.
// azblob (@azure/storage-blob): put blockBlobClient.upload, get
//   blobClient.download() read whole, of "vendor/obj/N" in container NAME.
// azqueue (@azure/storage-queue): send sendMessage (base64 of the 1 KiB
//   body, as kumo sends it), receive receiveMessages of one message with a
//   30 s visibility timeout and deleteMessage, on queue NAME.
// The topic and subscription, container or queue may exist already (for
// queue-recv bench/stores_blobq.sh names kumo's queue). Azure's clients use
// Azurite's well-known account (devstoreaccount1, key
// AZURE_STORAGE_KEY) through a connection string naming ENDPOINT.
//
// CALLERS concurrent callers, each with its own client, as async loops in
// one process (the way these SDKs are used), for SECONDS. For blob-get the
// KEYS objects are written first. A receiver that finds the queue empty
// ten times running stops, as bench/stores_blobq.c's do. Prints
// "OP CALLERS OPS_PER_S" (the count over the longest caller's time), with
// " (drained)" when a receiver ran out of messages.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "clients/package.json"));

const [driver, op, callersArg, secondsArg, keysArg, endpoint, name, project] = process.argv.slice(2);
const callers = Number(callersArg), seconds = Number(secondsArg), keys = Number(keysArg);
const BODY = Buffer.alloc(1024, "x");
const EMPTY_RECEIVES_MAX = 10;

function azureConnection(kind) {
    return `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${process.env.AZURE_STORAGE_KEY};` +
        `${kind}Endpoint=${endpoint}/devstoreaccount1;`;
}

// Each driver: setup() once, then client() per caller giving { put, get,
// send, recv } (recv resolves to false when the queue was empty).
const drivers = {
    async gcs() {
        const { Storage } = require("@google-cloud/storage");
        const client = () => {
            const bucket = new Storage({ apiEndpoint: endpoint, projectId: project }).bucket(name);
            return {
                put: k => bucket.file(k).save(BODY, { resumable: false, contentType: "application/octet-stream" }),
                get: async k => (await bucket.file(k).download())[0],
            };
        };
        return { client };
    },
    async pubsub() {
        const { PubSub, v1 } = require("@google-cloud/pubsub");
        const admin = new PubSub({ projectId: project, apiEndpoint: endpoint });
        for (const make of [() => admin.createTopic(name), () => admin.topic(name).createSubscription(name)]) {
            try {
                await make();
            } catch (e) {
                if (e.code !== 6) // ALREADY_EXISTS
                    throw e;
            }
        }
        const subscription = `projects/${project}/subscriptions/${name}`;
        const client = async () => {
            const ps = new PubSub({ projectId: project, apiEndpoint: endpoint });
            const topic = ps.topic(name, { batching: { maxMessages: 1 } });
            const sub = new v1.SubscriberClient(await ps.getClientConfig());
            return {
                send: () => topic.publishMessage({ data: BODY }),
                recv: async () => {
                    const [res] = await sub.pull({ subscription, maxMessages: 1, returnImmediately: true });
                    if (!res.receivedMessages || res.receivedMessages.length === 0)
                        return false;
                    await sub.acknowledge({ subscription, ackIds: [res.receivedMessages[0].ackId] });
                    return true;
                },
            };
        };
        return { client };
    },
    async azblob() {
        const { BlobServiceClient } = require("@azure/storage-blob");
        await BlobServiceClient.fromConnectionString(azureConnection("Blob")).getContainerClient(name).createIfNotExists();
        const client = () => {
            const container = BlobServiceClient.fromConnectionString(azureConnection("Blob")).getContainerClient(name);
            return {
                put: k => container.getBlockBlobClient(k).upload(BODY, BODY.length),
                get: async k => {
                    const res = await container.getBlobClient(k).download();
                    const parts = [];
                    for await (const chunk of res.readableStreamBody)
                        parts.push(chunk);
                    return Buffer.concat(parts);
                },
            };
        };
        return { client };
    },
    async azqueue() {
        const { QueueServiceClient } = require("@azure/storage-queue");
        await QueueServiceClient.fromConnectionString(azureConnection("Queue")).getQueueClient(name).createIfNotExists();
        const text = BODY.toString("base64");
        const client = () => {
            const queue = QueueServiceClient.fromConnectionString(azureConnection("Queue")).getQueueClient(name);
            return {
                send: () => queue.sendMessage(text),
                recv: async () => {
                    const res = await queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 30 });
                    if (res.receivedMessageItems.length === 0)
                        return false;
                    const m = res.receivedMessageItems[0];
                    await queue.deleteMessage(m.messageId, m.popReceipt);
                    return true;
                },
            };
        };
        return { client };
    },
};

async function caller(c, seed) {
    let n = 0, empty = 0, drained = false, rnd = seed * 7919 + 1;
    const start = performance.now(), end = start + seconds * 1000;
    while (performance.now() < end && !drained) {
        rnd = (rnd * 1103515245 + 12345) % 2147483648;
        const key = `vendor/obj/${rnd % keys}`;
        if (op === "blob-put") {
            await c.put(key);
        } else if (op === "blob-get") {
            if ((await c.get(key)).length !== BODY.length)
                throw new Error(`${key}: not 1 KiB`);
        } else if (op === "queue-send") {
            await c.send();
        } else if (!(await c.recv())) {
            drained = ++empty >= EMPTY_RECEIVES_MAX;
            continue;
        }
        empty = 0;
        n++;
    }
    return { n, drained, ms: performance.now() - start };
}

if (!drivers[driver] || !["blob-put", "blob-get", "queue-send", "queue-recv"].includes(op)) {
    console.error("usage: node blobq_raw.mjs gcs|pubsub|azblob|azqueue blob-put|blob-get|queue-send|queue-recv " +
        "CALLERS SECONDS KEYS ENDPOINT NAME [PROJECT]");
    process.exit(2);
}
const d = await drivers[driver]();
if (op === "blob-get") {
    const c = await d.client();
    for (let k = 0; k < keys; k++)
        await c.put(`vendor/obj/${k}`);
}
const clients = await Promise.all(Array.from({ length: callers }, () => d.client()));
const results = await Promise.all(clients.map((c, i) => caller(c, i + 1)));
const total = results.reduce((a, r) => a + r.n, 0);
const longest = Math.max(...results.map(r => r.ms)) / 1000;
console.log(`${op} ${callers} ${Math.round(total / longest)}${results.some(r => r.drained) ? " (drained)" : ""}`);
process.exit(0);
