"""A misbehaving IPC peer for the fuzz harness (ipc-fuzz.js): a child that a corral parent forks
with execPath python3, speaking Node's channel (NODE_CHANNEL_FD, NODE_CHANNEL_SERIALIZATION_MODE).

It writes `count` frames chosen at random (seeded): valid messages, valid messages mutated
(bytes flipped, cut, grown, length prefixes changed), random bytes, huge announced lengths,
descriptors (SCM_RIGHTS) with or without a frame that announces them. The parent must survive
all of it; the channel closes at the first frame the parent cannot decode, and this child then
stops (EPIPE / end of stream). It prints how many frames it wrote.

usage: python3 frames.py <seed> <count> <valid-frame-hex>...   (or the same in FUZZ_ARGS)
"""
import os
import random
import socket
import sys


def main():
    args = os.environ["FUZZ_ARGS"].split() if "FUZZ_ARGS" in os.environ else sys.argv[1:]
    seed, count = int(args[0]), int(args[1])
    templates = [bytes.fromhex(h) for h in args[2:]]
    rng = random.Random(seed)
    mode = os.environ.get("NODE_CHANNEL_SERIALIZATION_MODE", "json")
    fd = int(os.environ["NODE_CHANNEL_FD"])
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    sock.settimeout(2.0)
    written = 0

    def mutate(frame):
        b = bytearray(frame)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(5)
            if op == 0 and b:
                b[rng.randrange(len(b))] = rng.randrange(256)
            elif op == 1 and b:
                del b[rng.randrange(len(b)):]
            elif op == 2:
                b[rng.randrange(len(b) + 1):0] = os.urandom(rng.randint(1, 16))
            elif op == 3 and mode == "advanced" and len(b) >= 4:
                b[0:4] = rng.randrange(1 << 32).to_bytes(4, "big")
            elif op == 4 and mode == "json":
                b = b.replace(b"\n", b"") + (b"\n" if rng.random() < 0.7 else b"")
        return bytes(b)

    def one_frame():
        kind = rng.random()
        if kind < 0.45:
            return rng.choice(templates), 0
        if kind < 0.8:
            return mutate(rng.choice(templates)), 0
        if kind < 0.9:
            return os.urandom(rng.randint(1, 64)), 0
        if kind < 0.93:
            big = (rng.randint(1 << 29, (1 << 32) - 1)).to_bytes(4, "big")
            return (big if mode == "advanced" else b"x" * rng.randint(1, 4096)), 0
        # descriptors, with a valid frame, a mutated one, or garbage
        body = rng.choice([rng.choice(templates), mutate(rng.choice(templates)), os.urandom(8)])
        return body, rng.randint(1, 3)

    try:
        while written < count:
            data, nfds = one_frame()
            if nfds:
                fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(nfds)]
                try:
                    socket.send_fds(sock, [data], fds)
                finally:
                    for f in fds:
                        os.close(f)
            else:
                sock.sendall(data)
            written += 1
    except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
        pass
    print(written, flush=True)


if __name__ == "__main__":
    main()
