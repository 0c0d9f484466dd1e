// Decode ci-report --format otlp with the OTLP protobuf definitions that
// OpenTelemetry JS compiles (the generated protobufjs module of
// @opentelemetry/otlp-proto-exporter-base, installed by scripts/deps.sh).
//
// usage: node otlp.js FILE
//
// Each line of FILE is one OTLP/JSON ExportTraceServiceRequest. Its ids
// must be lowercase hex of the right length (OTLP/JSON's rule, not base64)
// and not all zero. The line is decoded into the protobuf message, encoded
// to protobuf binary, decoded again, and must come back as it was: an
// unknown field, a wrong type or a misspelt name does not survive the trip.
// Prints one JSON line per span of the decoded binary, flattened for jq:
// {line, resource, traceId, spanId, parentSpanId, name, kind, start, end,
// status, statusMessage, attrs, events: [{time, name, attrs}], dropped}.
'use strict';
const fs = require('fs');
const path = require('path');

const deps = path.join(__dirname, '..', '..', '.deps', 'node_modules');
const root = require(path.join(deps, '@opentelemetry', 'otlp-proto-exporter-base',
	'build', 'src', 'generated', 'root.js'));
const Req = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const ID = { traceId: 32, spanId: 16, parentSpanId: 16 };

function fail(line, why) {
	process.stderr.write(`otlp.js: line ${line}: ${why}\n`);
	process.exit(1);
}

// A copy with the ids as bytes (for protobufjs) or, back, as hex.
function ids(o, toBytes, line) {
	if (Array.isArray(o)) return o.map((x) => ids(x, toBytes, line));
	if (o === null || typeof o !== 'object') return o;
	const c = {};
	for (const [k, v] of Object.entries(o)) {
		if (k in ID && toBytes) {
			if (typeof v !== 'string' || !new RegExp(`^[0-9a-f]{${ID[k]}}$`).test(v))
				fail(line, `${k} ${JSON.stringify(v)} is not ${ID[k]} lowercase hex digits`);
			if (/^0+$/.test(v)) fail(line, `${k} is all zero`);
			c[k] = Buffer.from(v, 'hex');
		} else if (k in ID) {
			c[k] = Buffer.from(v, 'base64').toString('hex');
		} else c[k] = ids(v, toBytes, line);
	}
	return c;
}

function same(a, b, where) {
	if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b))
		return `${where}: ${JSON.stringify(a)} came back as ${JSON.stringify(b)}`;
	if (a === null || typeof a !== 'object')
		return a === b ? null : `${where}: ${JSON.stringify(a)} came back as ${JSON.stringify(b)}`;
	const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
	for (const k of keys) {
		if (!(k in a)) return `${where}.${k}: appeared`;
		if (!(k in b)) return `${where}.${k}: lost (unknown field or default value)`;
		const w = same(a[k], b[k], `${where}.${k}`);
		if (w) return w;
	}
	return null;
}

function value(v) {
	if ('stringValue' in v) return v.stringValue;
	if ('intValue' in v) return Number(v.intValue);
	if ('boolValue' in v) return v.boolValue;
	if ('doubleValue' in v) return v.doubleValue;
	if ('arrayValue' in v) return (v.arrayValue.values || []).map(value);
	return null;
}

function attrs(list) {
	const o = {};
	for (const kv of list || []) {
		if (kv.key in o) throw new Error(`attribute ${kv.key} twice`);
		o[kv.key] = value(kv.value);
	}
	return o;
}

const text = fs.readFileSync(process.argv[2], 'utf8');
const lines = text.split('\n');
if (lines.pop() !== '') fail(lines.length, 'the output does not end with a newline');
lines.forEach((s, i) => {
	const n = i + 1;
	let json;
	try {
		json = JSON.parse(s);
	} catch (e) {
		fail(n, `not JSON: ${e.message}`);
	}
	const msg = Req.fromObject(ids(json, true, n));
	const bin = Req.encode(msg).finish();
	const back = Req.decode(bin);
	const err = Req.verify(back);
	if (err) fail(n, `decoded message does not verify: ${err}`);
	const obj = ids(Req.toObject(back, { longs: String, enums: Number, bytes: String }), false, n);
	const diff = same(json, obj, 'request');
	if (diff) fail(n, diff);
	if (!obj.resourceSpans || obj.resourceSpans.length === 0) fail(n, 'no resourceSpans');
	for (const rs of obj.resourceSpans) {
		const resource = attrs(rs.resource && rs.resource.attributes);
		for (const ss of rs.scopeSpans || [])
			for (const sp of ss.spans || [])
				process.stdout.write(JSON.stringify({
					line: n,
					resource,
					scope: ss.scope,
					schemaUrl: rs.schemaUrl,
					traceId: sp.traceId,
					spanId: sp.spanId,
					parentSpanId: sp.parentSpanId || null,
					name: sp.name,
					kind: sp.kind,
					start: sp.startTimeUnixNano,
					end: sp.endTimeUnixNano,
					status: (sp.status && sp.status.code) || 0,
					statusMessage: (sp.status && sp.status.message) || null,
					attrs: attrs(sp.attributes),
					events: (sp.events || []).map((e) => ({
						time: e.timeUnixNano, name: e.name, attrs: attrs(e.attributes),
					})),
					dropped: sp.droppedEventsCount || 0,
				}) + '\n');
	}
});
