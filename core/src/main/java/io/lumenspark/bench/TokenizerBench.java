package io.lumenspark.bench;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.ToIntFunction;

/**
 * Encoding throughput in MB of UTF-8 text per second: one thread, then every thread encoding the corpus at once
 * (reported per core), for our tokenizer and for jtokkit's r50k_base. Each figure is the median of several timed
 * passes after untimed warm-up passes.
 */
public final class TokenizerBench {
    private final int runs, warmup;

    /**
     * A benchmark of this many timed passes per figure after this many untimed ones.
     *
     * @throws LumensparkException for fewer than one timed pass or a negative warm-up
     */
    public TokenizerBench(int runs, int warmup) {
        if (runs < 1 || warmup < 0) throw new LumensparkException("--runs and --mb must be at least 1");
        this.runs = runs;
        this.warmup = warmup;
    }

    /**
     * Measures ours (and jtokkit's GPT-2 when ours is GPT-2) on text with 1 and with threads threads, and prints a
     * Markdown table.
     *
     * @param source what the text is, for the first line (a file, or "generated")
     */
    public void run(Tokenizer ours, String text, Object source, int threads, PrintStream out) {
        long bytes = text.getBytes(StandardCharsets.UTF_8).length;
        out.printf("corpus: %s, %.2f MB; %s; median of %s after %s%n", source, bytes / 1e6,
                Words.count(threads, "thread"), Words.count(runs, "pass"), Words.count(warmup, "warm-up pass"));
        Encoding jtokkit = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
        List<String> rows = new ArrayList<>();
        rows.add("| tokenizer | tokens | MB/s, 1 thread | MB/s per core, " + Words.count(threads, "thread") + " |");
        rows.add("|---|---|---|---|");
        rows.add(row(ours.name() + " (ours)", t -> ours.encode(t).length, text, bytes, threads));
        if (ours.name().equals("gpt2")) {
            rows.add(row("jtokkit r50k_base", t -> jtokkit.encodeOrdinary(t).size(), text, bytes, threads));
        }
        out.println();
        rows.forEach(out::println);
    }

    private String row(String label, ToIntFunction<String> encode, String text, long bytes, int threads) {
        int tokens = encode.applyAsInt(text);
        double single = throughput(encode, text, bytes, 1);
        double perCore = threads == 1 ? single : throughput(encode, text, bytes, threads) / threads;
        return String.format("| %s | %,d | %.1f | %.1f |", label, tokens, single, perCore);
    }

    /** MB/s of all threads together, each encoding the whole text: the median pass. */
    private double throughput(ToIntFunction<String> encode, String text, long bytes, int threads) {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            double[] rates = new double[runs];
            for (int pass = -warmup; pass < runs; pass++) {
                long t0 = System.nanoTime();
                List<Future<Integer>> all = new ArrayList<>();
                for (int t = 0; t < threads; t++) all.add(pool.submit(() -> encode.applyAsInt(text)));
                for (Future<Integer> f : all) f.get();
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (pass >= 0) rates[pass] = bytes * (double) threads / seconds / 1e6;
            }
            return Stats.median(rates);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LumensparkException("interrupted");
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * English-like text of about {@code chars} characters: sentences of words drawn with Zipf-like frequencies from
     * common words and made-up ones (a long tail of rare words), capitalized, with punctuation, numbers, quotes,
     * some accented words and paragraphs.
     */
    public static String generate(int chars, long seed) {
        String[] common = ("the of and to a in is that it was for on as with his he be at by I this had not are but"
                + " from or have an they which one you were her all she there would their we him been has when who will"
                + " more no if out so said what up its about into than them can only other new some could time these two"
                + " may then do first any my now such like our over man me even most made after also did many before"
                + " must through back years where much your way well down should because each just those people how too"
                + " little state good very make world still own see men work long get here between both life being under"
                + " never day same another know while last might us great old year off come since against go came right"
                + " used take three government country nation war peace law congress president united states").split(" ");
        String[] syllables = "ka ri to men sa lo ve tion ber an ing er ed un re pro con ly al ist ment ous ter".split(" ");
        String[] accented = {"café", "naïve", "résumé", "Zürich", "façade", "señor", "déjà", "Ångström"};
        SplittableRandom rnd = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder(chars + 100);
        boolean sentenceStart = true;
        while (sb.length() < chars) {
            String word;
            double u = rnd.nextDouble();
            if (u < 0.80) {
                word = common[(int) (common.length * Math.pow(rnd.nextDouble(), 2.5))];
            } else if (u < 0.97) {
                StringBuilder w = new StringBuilder();
                for (int k = rnd.nextInt(2, 5); k > 0; k--) w.append(syllables[rnd.nextInt(syllables.length)]);
                word = w.toString();
            } else if (u < 0.99) {
                word = Integer.toString(rnd.nextInt(1, 3000));
            } else {
                word = accented[rnd.nextInt(accented.length)];
            }
            if (sentenceStart) word = Character.toUpperCase(word.charAt(0)) + word.substring(1);
            sb.append(word);
            sentenceStart = false;
            double p = rnd.nextDouble();
            if (p < 0.06) {
                sb.append(rnd.nextInt(8) == 0 ? "\n\n" : ". ");
                sentenceStart = true;
            } else if (p < 0.12) {
                sb.append(", ");
            } else if (p < 0.13) {
                sb.append("; ");
            } else if (p < 0.135) {
                sb.append("'s ");
            } else {
                sb.append(' ');
            }
        }
        return sb.toString();
    }
}
