// Publishes and receives through mqttlb over WebSocket with MQTT.js, at
// QoS 0, 1 and 2, and checks every payload. Run by
// websocket_mqttjs_test.go:
//
//	node pubsub.js URL PROTOCOL_VERSION [CA_FILE]
//
// It prints "ok N" (N messages checked) and exits 0, or prints the
// failure and exits 1.
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const mqtt = require('mqtt');

const [url, version, caFile] = process.argv.slice(2);
const options = { protocolVersion: Number(version), reconnectPeriod: 0, connectTimeout: 5000 };
if (caFile) {
  options.ca = fs.readFileSync(caFile);
  options.servername = 'localhost';
}

function fail(err) {
  console.error('FAIL', err && err.stack ? err.stack : err);
  process.exit(1);
}
setTimeout(() => fail('timed out'), 30000).unref();

function connect(clientId) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { ...options, clientId, clean: true });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

async function main() {
  const sub = await connect(`mqttjs-sub-v${version}`);
  const pub = await connect(`mqttjs-pub-v${version}`);
  const inbox = [];
  let wake = null;
  sub.on('message', (topic, payload) => {
    inbox.push({ topic, payload });
    if (wake) wake();
  });
  const next = () => new Promise((resolve) => {
    if (inbox.length) return resolve(inbox.shift());
    wake = () => { wake = null; resolve(inbox.shift()); };
  });

  let checked = 0;
  for (const qos of [0, 1, 2]) {
    const topic = `mqttjs/v${version}/q${qos}`;
    await sub.subscribeAsync(topic, { qos });
    for (const size of [0, 1, 1024, 65536]) {
      const payload = crypto.randomBytes(size);
      await pub.publishAsync(topic, payload, { qos });
      const m = await next();
      if (m.topic !== topic) throw new Error(`topic ${m.topic}, want ${topic}`);
      if (!payload.equals(m.payload)) throw new Error(`QoS ${qos}: payload of ${size} bytes differs`);
      checked++;
    }
  }
  await sub.endAsync();
  await pub.endAsync();
  console.log(`ok ${checked}`);
}

main().catch(fail);
