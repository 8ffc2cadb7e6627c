#!/usr/bin/env python3
"""How much room a size class's slabs must hold beside its live blocks, at best.

A model of one size class of one thread under thread_malloc's shape: a working set of
W blocks, each step frees the block of a random slot and puts a new block there, of
this class with probability p (so the class holds about W * p blocks, rising and
falling at random). The class's blocks live in slabs of B blocks. The model packs them
as well as any allocator could without moving blocks: a new block goes into the
fullest slab with room, a new slab is taken only when none has room, and a slab goes
back the moment its last block is freed. It prints the mean slab capacity over the
mean live blocks: the least a segregated-fit allocator with B-block slabs can hold for
this class, whatever its policy (arena's census: arena_slab_census, BENCHMARKS.md #14,
Session 20).

    python3 slab_capacity_model.py [--steps N] [--seed S]
"""
import argparse
import random
import sys


def capacity_over_live(blocks_per_slab, live_mean, working_set, steps, seed):
    rng = random.Random(seed)
    p = live_mean / working_set
    used = {}  # blocks in use per open slab, by id, oldest first
    block_slab = []  # the slab of each live block of the class
    next_id = 0
    capacity_sum = live_sum = 0
    warmup = steps // 10
    for step in range(steps):
        # The freed slot holds one of this class's blocks with probability live / W.
        if block_slab and rng.random() < len(block_slab) / working_set:
            i = rng.randrange(len(block_slab))
            slab = block_slab[i]
            block_slab[i] = block_slab[-1]
            block_slab.pop()
            used[slab] -= 1
            if used[slab] == 0:
                del used[slab]
        if rng.random() < p:
            best = None
            for s, n in used.items():
                if n < blocks_per_slab and (best is None or n > used[best]):
                    best = s
            if best is None:
                best = next_id
                next_id += 1
                used[best] = 0
            used[best] += 1
            block_slab.append(best)
        if step >= warmup:
            capacity_sum += len(used) * blocks_per_slab
            live_sum += len(block_slab)
    return capacity_sum / live_sum


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--working-set", type=int, default=1024)
    args = parser.parse_args()
    if args.steps < 10 or args.working_set < 64:
        print("slab_capacity_model.py: --steps must be at least 10 and --working-set 64",
              file=sys.stderr)
        return 2
    lives = (5, 14, 40)
    print("| blocks a slab | " + " | ".join(f"{n} live (mean)" for n in lives) + " |")
    print("|---:|" + "---:|" * len(lives))
    for b in (1, 2, 3, 4, 8, 16, 32):
        ratios = [capacity_over_live(b, n, args.working_set, args.steps, args.seed) for n in lives]
        print(f"| {b} | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
