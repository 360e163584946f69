"""Writes a long CSV shaped like the public 100k-rating file that issue 13 timed `affinity
evaluate` on (943 users, 1,682 titled items, 100,000 events, user-day baskets of ~40 items),
generated, so that the run needs no download: skewed item popularity, each user's events spread
over a few days, a title and a genre per item.

    python3 benches/ratings_like.py OUT.csv [--seed 7]
"""

import argparse
import csv
import random

USERS, ITEMS, EVENTS = 943, 1682, 100_000
WORDS = (
    "star night river city love war dark lost last first return king queen man woman "
    "house road story game heart blue red white black golden silent wild secret little big "
    "great dead young old summer winter spring american french island ghost space time"
).split()
GENRES = "action adventure animation comedy crime documentary drama fantasy horror musical mystery romance sci-fi thriller war western".split()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    titles = [
        f"{' '.join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))).title()} ({rng.randint(1930, 1998)})"
        for _ in range(ITEMS)
    ]
    genres = [rng.choice(GENRES) for _ in range(ITEMS)]
    # Popularity falls off like a power law, as ratings do.
    weights = [1.0 / (rank + 10) ** 1.1 for rank in range(ITEMS)]
    # Events per user: at least 20, long-tailed, summing to EVENTS.
    raw = [20 + rng.paretovariate(1.3) * 30 for _ in range(USERS)]
    scale = (EVENTS - 20 * USERS) / sum(r - 20 for r in raw)
    counts = [20 + int((r - 20) * scale) for r in raw]
    counts = [min(c, 700) for c in counts]
    short = EVENTS - sum(counts)
    while short:  # what the clipping took, spread over users with room
        user = rng.randrange(USERS)
        if counts[user] < 700:
            counts[user] += 1
            short -= 1
    start = 874_724_710  # 1997-09-20, seconds
    with open(args.out, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["user_id", "item_id", "timestamp", "title", "category"])
        for user, n in enumerate(counts):
            seen = set()
            while len(seen) < n:
                seen.update(rng.choices(range(ITEMS), weights, k=n - len(seen)))
            items = list(seen)
            rng.shuffle(items)
            day = start + rng.randint(0, 200) * 86_400
            for pos, item in enumerate(items):
                if pos and pos % 40 == 0:  # a new day every ~40 events
                    day += rng.randint(1, 30) * 86_400
                t = day + rng.randint(0, 3_600)
                out.writerow([f"u{user}", f"m{item}", t, titles[item], genres[item]])


if __name__ == "__main__":
    main()
