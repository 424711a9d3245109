package io.lumenspark.model;

import java.lang.foreign.MemorySegment;

/** W ~ V U with a small rank: y = V(U(x)), no biases (published lumenspark's LowRankLinear). */
final class LowRankLinear {
    final Linear u, v;

    LowRankLinear(Params params, String name, int in, int out, int rank) {
        u = new Linear(params, name + ".U", in, rank, false);
        v = new Linear(params, name + ".V", rank, out, false);
    }

    void allocate(Pass c) {
        u.allocate(c);
        v.allocate(c);
    }

    MemorySegment forward(Pass c, MemorySegment x) {
        return v.forward(c, u.forward(c, x));
    }

    /** Any number of rows into a caller's buffers: mid gets U x (rank wide), y gets V U x. */
    void forwardInto(Pass c, MemorySegment x, MemorySegment mid, MemorySegment y, int rows) {
        u.forwardInto(c, x, mid, rows);
        v.forwardInto(c, mid, y, rows);
    }

    MemorySegment backward(Pass c, MemorySegment dy) {
        return u.backward(c, v.backward(c, dy));
    }
}
