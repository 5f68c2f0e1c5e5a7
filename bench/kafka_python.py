#!/usr/bin/env python3
"""The Python side of `framelog bench kafka`: the same workload with confluent-kafka (librdkafka 2.16).

Usage: kafka_python.py BOOTSTRAP TOPIC TOTAL_BYTES RECORD_BYTES PRODUCER_JSON CONSUMER_JSON
Prints one JSON object: produce/consume MB/s and the process's peak RSS after producing.
The librdkafka properties come from the Swift side so both clients run with identical settings.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def reset_peak_rss():
    """Resets VmHWM (ru_maxrss would include the parent's peak: it survives fork+exec)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    bootstrap, topic, total, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    producer_props, consumer_props = json.loads(sys.argv[5]), json.loads(sys.argv[6])
    count = total // size
    value = bytes((i * 31) & 0xFF for i in range(size))

    delivered = failed = 0

    def on_delivery(err, _msg):
        nonlocal delivered, failed
        if err is None:
            delivered += 1
        else:
            failed += 1

    reset_peak_rss()
    producer = Producer({**producer_props, "bootstrap.servers": bootstrap})
    start = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, value=value, key=b"bench", partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.005)
        producer.poll(0)
    producer.flush(120)
    produce_s = time.perf_counter() - start
    producer_rss_mb = peak_rss_mb()
    if delivered != count:
        raise SystemExit(f"python producer: {delivered} of {count} delivered, {failed} failed")

    consumer = Consumer({**consumer_props, "bootstrap.servers": bootstrap})
    consumer.assign([TopicPartition(topic, 0, -2)])
    received = 0
    nbytes = 0
    start = time.perf_counter()
    deadline = start + 300
    while received < count and time.perf_counter() < deadline:
        for msg in consumer.consume(num_messages=256, timeout=0.1):
            if msg.error():
                raise KafkaException(msg.error())
            received += 1
            nbytes += len(msg.value())
    consume_s = time.perf_counter() - start
    consumer.close()
    if received != count:
        raise SystemExit(f"python consumer: {received} of {count} records")

    print(json.dumps({
        "records": count,
        "bytes": count * size,
        "produce_seconds": produce_s,
        "consume_seconds": consume_s,
        "consumed_bytes": nbytes,
        "producer_peak_rss_mb": producer_rss_mb,
    }))


if __name__ == "__main__":
    main()
