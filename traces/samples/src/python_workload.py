# The python3 samples' workload (run with PYTHONMALLOC=malloc so every object goes
# through malloc): build, transform and drop containers of small strings and dicts.
# With the argument "threads", two worker threads do it at once and hand results back
# to the main thread, which frees them.
import json
import sys
import threading


def work(seed, n):
    rows = [{"id": i, "name": "item-%d" % (i * seed), "tags": [str(i % 7), str(i % 11)]}
            for i in range(n)]
    text = json.dumps(rows)
    back = json.loads(text)
    index = {r["name"]: r for r in back}
    return sum(len(k) for k in index)


if len(sys.argv) > 1 and sys.argv[1] == "threads":
    results = []
    lock = threading.Lock()

    def worker(seed):
        for round_ in range(2):
            value = work(seed + round_, 1500)
            with lock:
                results.append(value)

    threads = [threading.Thread(target=worker, args=(s,)) for s in (3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(sum(results))
else:
    print(work(3, 5000))
