package io.lumenspark.cli;

import io.lumenspark.io.Json;
import io.lumenspark.io.Printable;
import io.lumenspark.pretrained.FillMask;
import io.lumenspark.pretrained.LumensparkModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "fill-mask", mixinStandardHelpOptions = true,
        description = "The most likely tokens for each <mask> of a text, from a masked LM (train --objective mlm),"
                + " as Hugging Face's fill-mask pipeline.")
final class FillMaskCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption modelFolder;

    @Option(names = "--text", required = true, description = "A text with one or more <mask> (repeatable: the"
            + " texts run as one padded batch).")
    List<String> texts;

    @Option(names = "--top-k", description = "Candidates per mask (default: ${DEFAULT-VALUE}).")
    int topK = 5;

    @Option(names = "--json", description = "One JSON line per text: input_ids, and per mask its candidates with the"
            + " pipeline's keys (score, token, token_str, sequence).")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        try (LumensparkModel model = LumensparkModel.fromPretrained(modelFolder.dir())) {
            List<FillMask.Result> results = model.fillMask(texts, topK);
            for (int t = 0; t < results.size(); t++) {
                FillMask.Result r = results.get(t);
                if (json) {
                    Map<String, Object> line = new LinkedHashMap<>();
                    line.put("input_ids", r.inputIds());
                    List<List<Map<String, Object>>> masks = new ArrayList<>();
                    for (List<FillMask.Candidate> mask : r.masks()) {
                        List<Map<String, Object>> candidates = new ArrayList<>();
                        for (FillMask.Candidate c : mask) {
                            Map<String, Object> m = new LinkedHashMap<>();
                            m.put("score", c.score());
                            m.put("token", c.token());
                            m.put("token_str", c.tokenStr());
                            m.put("sequence", c.sequence());
                            candidates.add(m);
                        }
                        masks.add(candidates);
                    }
                    line.put("masks", masks);
                    System.out.println(Json.toLine(line));
                    continue;
                }
                for (int i = 0; i < r.masks().size(); i++) {
                    // a header where there is more than one mask in all: which text and which of its masks
                    if (results.size() > 1) System.out.printf("text %d, mask %d:%n", t + 1, i + 1);
                    else if (r.masks().size() > 1) System.out.printf("mask %d:%n", i + 1);
                    for (FillMask.Candidate c : r.masks().get(i)) {
                        System.out.printf("%.4f  %-16s %s%n", c.score(), Json.toLine(c.tokenStr()),
                                Printable.line(c.sequence()));
                    }
                }
            }
        }
        return 0;
    }
}
