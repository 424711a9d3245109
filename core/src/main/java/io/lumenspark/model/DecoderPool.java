package io.lumenspark.model;

import java.util.ArrayDeque;

/**
 * Decoders of one model kept for the next sequences, as a server keeps its KV cache from request to request: a
 * decoder given back is {@link Decoder#reset reset} (which leaves it as a new one would be, so what it computes
 * next is the same bit for bit) and handed out again, its memory already mapped and resident. A new decoder's
 * state is mapped untouched and faults in page by page as positions are written (a full-attention layer's KV
 * cache: about six pages a position over six layers, 9,800 faults a second at 16 streams of `transformer`), and
 * closing one unmaps it. Holds up to keep idle decoders; thread-safe.
 */
public final class DecoderPool implements AutoCloseable {
    private final LanguageModel model;
    private final int keep;
    private final ArrayDeque<Decoder> idle = new ArrayDeque<>();
    private boolean closed;

    /** A pool of model's decoders that keeps up to keep of them idle (a batch's capacity). */
    public DecoderPool(LanguageModel model, int keep) {
        if (keep < 0) throw new IllegalArgumentException("a pool keeps at least 0 decoders, got " + keep);
        this.model = model;
        this.keep = keep;
    }

    /** A decoder at position 0: an idle one (the most recently given back), or a new one. */
    public Decoder take() {
        synchronized (this) {
            if (closed) throw new IllegalStateException("the decoder pool is closed");
            Decoder d = idle.pollFirst();
            if (d != null) return d;
        }
        return model.decoder();
    }

    /** Takes back a decoder of this pool's model (reset here), or closes it when the pool is full or closed. */
    public void give(Decoder d) {
        if (d.model() != model) throw new IllegalArgumentException("a decoder of another model");
        boolean kept;
        synchronized (this) {
            if (idle.contains(d)) throw new IllegalStateException("a decoder given back twice");
            kept = !closed && idle.size() < keep;
            if (kept) {
                d.reset();
                idle.addFirst(d);
            }
        }
        if (!kept) d.close();
    }

    /** Decoders idle in the pool. */
    public synchronized int idle() {
        return idle.size();
    }

    /** Closes the idle decoders; those given back later are closed at once. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        for (Decoder d; (d = poll()) != null; ) d.close();
    }

    private synchronized Decoder poll() {
        return idle.pollFirst();
    }
}
