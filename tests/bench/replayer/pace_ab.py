#!/usr/bin/env python3
# What pacing costs, before and after a change (BENCHMARKS.md "Pacing"): the
# null-allocator harness with --touch none, two builds, free-running and paced (the
# default window), run by run in turns: each round runs every trace under A none,
# A paced, B none, B paced (one warm-up round first). Prints medians of the wall
# ns/op/thread (the replay's), the replay's CPU ns/op, the whole process tree's CPU
# ns/op (the children's rusage: everything, the pacer's waits included), the pace wait,
# and what pacing adds under each build.
#   pace_ab.py ROUNDS BUILD_A/bin/mtreplay BUILD_B/bin/mtreplay [TRACE...]
# Default traces t1.mtr t2.mtr t2s.mtr in the current directory, as bench_replayer.sh
# makes them with trace_gen (its "Synthetic traces").
import json, os, resource, statistics as st, subprocess, sys, tempfile
rounds = int(sys.argv[1]); bins = {'A': sys.argv[2], 'B': sys.argv[3]}
traces = sys.argv[4:] or ['t1.mtr', 't2.mtr', 't2s.mtr']
res = {}
tmp = tempfile.mkdtemp()
print('start', open('/proc/loadavg').read().strip(), flush=True)
for r in range(rounds + 1):
    for t in traces:
        for b in 'AB':
            for pace in ('none', 'paced'):
                out = os.path.join(tmp, 'o.json')
                cmd = [bins[b], 'replay', t, '--allocator', 'null', '--touch', 'none', '--quiet', '--json', out]
                if pace == 'none': cmd += ['--pace', 'none']
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                subprocess.run(cmd, check=True)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                run = json.load(open(out))['runs'][0]
                if r == 0: continue  # warm-up
                ops, th = run['ops'], run['trace']['threads']
                res.setdefault((t, b, pace), []).append((run['wall_ns'] * th / ops,
                    (run['cpu_user_ns'] + run['cpu_sys_ns']) / ops,
                    ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1e9 / ops,
                    run['pace_wait_ns'] / 1e6))
print('end', open('/proc/loadavg').read().strip())
print('%-8s %-2s %-6s %10s %10s %12s %10s' % ('trace', 'b', 'pace', 'wall/op/th', 'cpu/op', 'tree cpu/op', 'wait ms'))
for t in traces:
    for b in 'AB':
        m = {}
        for pace in ('none', 'paced'):
            v = res[(t, b, pace)]
            m[pace] = [st.median(x[i] for x in v) for i in range(4)]
            print('%-8s %-2s %-6s %10.2f %10.2f %12.2f %10.1f' % (t, b, pace, *m[pace]))
        print('%-8s %-2s added: wall %+.2f ns/op/thread, cpu %+.2f, tree cpu %+.2f' % (t, b, *(m['paced'][i] - m['none'][i] for i in range(3))))
