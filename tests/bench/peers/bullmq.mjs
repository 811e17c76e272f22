// SPDX-License-Identifier: BSD-2-Clause
//
// BullMQ's side of redjob-bench's "bullmq" scenario. redjob-bench starts
// this script and measures Redis (INFO cpu, commandstats, memory) around
// the section between the "go" line it writes to stdin and the end of
// the work; the script only does what a BullMQ user would.
//
//   node bullmq.mjs add --modules DIR --socket PATH --queue Q -n N
//       [--payload-size P] [--bulk B] [--delay MS]
//     add N jobs: one awaited Queue.add() at a time, or Queue.addBulk()
//     of B jobs; prints "ready", waits for "go", adds, prints "done".
//   node bullmq.mjs work --modules DIR --socket PATH --queue Q
//       [--concurrency C] [--manual]
//     a Worker with a no-op processor and concurrency C, or with --manual
//     no processor: Worker.getNextJob() and Job.moveToCompleted() with
//     fetchNext false, one job at a time and nothing prefetched (BullMQ's
//     "manually fetching jobs" pattern); prints "ready", waits for "go",
//     works until killed.
//
// DIR is where "npm install --prefix DIR bullmq@VERSION" put BullMQ (make
// bench-peers does that in the build tree). Jobs are removed when they
// complete, as redjob deletes a job when it is done; data is a string of
// P bytes, as redjob-bench's payloads.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

function usage(msg) {
	process.stderr.write(`bullmq.mjs: ${msg}\n`);
	process.exit(64);
}

const o = { n: 0, payload: 100, bulk: 0, delay: 0, concurrency: 8,
    manual: false };
const role = process.argv[2];
if (role !== 'add' && role !== 'work')
	usage('the first argument is add or work');
for (let i = 3; i < process.argv.length; i++) {
	const a = process.argv[i];
	const v = () => {
		if (i + 1 >= process.argv.length)
			usage(`${a} needs a value`);
		return process.argv[++i];
	};
	const num = (lo) => {
		const s = v(), x = Number(s);
		if (!Number.isInteger(x) || x < lo)
			usage(`${a} must be an integer >= ${lo}, not "${s}"`);
		return x;
	};
	switch (a) {
	case '--modules': o.modules = v(); break;
	case '--socket': o.socket = v(); break;
	case '--queue': o.queue = v(); break;
	case '-n': o.n = num(1); break;
	case '--payload-size': o.payload = num(0); break;
	case '--bulk': o.bulk = num(1); break;
	case '--delay': o.delay = num(1); break;
	case '--concurrency': o.concurrency = num(1); break;
	case '--manual': o.manual = true; break;
	default: usage(`unknown option "${a}"`);
	}
}
if (!o.modules || !o.socket || !o.queue)
	usage('--modules, --socket and --queue are required');
if (role === 'add' && o.n === 0)
	usage('add needs -n');

let bullmq;
try {
	bullmq = createRequire(`${o.modules}/package.json`)('bullmq');
} catch (e) {
	usage(`cannot load bullmq from ${o.modules}: ${e.message}`);
}
const { Queue, Worker } = bullmq;
// maxRetriesPerRequest null: what BullMQ asks of a Worker's connection.
const connection = { path: o.socket, maxRetriesPerRequest: null };

// Resolves at the "go" line; exits when stdin ends before it (the bench
// has gone).
function go() {
	return new Promise((resolve) => {
		const rl = createInterface({ input: process.stdin });
		let started = false;
		rl.on('line', (l) => {
			if (l === 'go' && !started) {
				started = true;
				resolve();
			}
		});
		rl.on('close', () => { if (!started) process.exit(0); });
	});
}

process.on('SIGTERM', () => process.exit(0));

if (role === 'add') {
	const queue = new Queue(o.queue, { connection });
	await queue.waitUntilReady();
	const data = 'x'.repeat(o.payload);
	const opts = { removeOnComplete: true };
	if (o.delay > 0)
		opts.delay = o.delay;
	process.stdout.write('ready\n');
	await go();
	if (o.bulk > 0) {
		for (let done = 0; done < o.n; ) {
			const k = Math.min(o.bulk, o.n - done), jobs = [];
			for (let i = 0; i < k; i++)
				jobs.push({ name: 'noop', data, opts });
			await queue.addBulk(jobs);
			done += k;
		}
	} else {
		for (let i = 0; i < o.n; i++)
			await queue.add('noop', data, opts);
	}
	process.stdout.write('done\n');
	await queue.close();
	process.exit(0);
} else if (o.manual) {
	const worker = new Worker(o.queue, null, { connection,
	    autorun: false });
	await worker.waitUntilReady();
	process.stdout.write('ready\n');
	await go();
	const token = 'bench';
	for (;;) {
		const job = await worker.getNextJob(token, { block: true });
		if (job)
			await job.moveToCompleted('', token, false);
	}
} else {
	const worker = new Worker(o.queue, async () => {}, { connection,
	    concurrency: o.concurrency, autorun: false });
	await worker.waitUntilReady();
	process.stdout.write('ready\n');
	await go();
	worker.run();
}
