package io.lumenspark.serve;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;

import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Chat templates as Hugging Face's model folders have them, rendered as transformers' Jinja renders them. */
class ChatTemplateTest {
    static final List<Map<String, Object>> CHAT = List.of(
            Map.of("role", "system", "content", "Be brief."),
            Map.of("role", "user", "content", "Hi!"),
            Map.of("role", "assistant", "content", " Hello. "),
            Map.of("role", "user", "content", "Bye"));

    static String render(String template, List<Map<String, Object>> messages, boolean addPrompt) {
        return ChatTemplate.parse(template).render(ChatTemplate.variables(messages, addPrompt, "<s>", "</s>"));
    }

    /** ChatML (Qwen, OpenHermes, ...), as published in their tokenizer_config.json. */
    @Test
    void chatMl() {
        String chatMl = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
                + " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                + "{% endif %}";
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
                + "<|im_start|>assistant\n Hello. <|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
                render(chatMl, CHAT, true));
        assertTrue(render(chatMl, CHAT, false).endsWith("Bye<|im_end|>\n"));
    }

    /** Llama 2's template: set, slices, raise_exception, loop.index0 % 2, strip(), bos/eos tokens. */
    static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
            + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
            + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if loop.index0 == 0 and system_message != false %}"
            + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
            + "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
            + "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
            + "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    @Test
    void llama2() {
        assertEquals("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST] Hello. </s><s>[INST] Bye [/INST]",
                render(LLAMA2, CHAT, true));
        var e = assertThrows(LumensparkException.class, () -> render(LLAMA2, List.of(
                Map.of("role", "assistant", "content", "first")), true));
        assertEquals("the chat template refused the messages: Conversation roles must alternate"
                + " user/assistant/user/assistant/...", e.getMessage());
    }

    /** Zephyr's template relies on trim_blocks and lstrip_blocks (the newlines and indents around its tags). */
    @Test
    void trimBlocksAndLstripBlocksAsTransformersSetsThem() {
        String zephyr = """
                {% for message in messages %}
                {% if message['role'] == 'user' %}
                {{ '<|user|>\\n' + message['content'] + eos_token }}
                {% elif message['role'] == 'system' %}
                {{ '<|system|>\\n' + message['content'] + eos_token }}
                {% elif message['role'] == 'assistant' %}
                {{ '<|assistant|>\\n'  + message['content'] + eos_token }}
                {% endif %}
                {% if loop.last and add_generation_prompt %}
                {{ '<|assistant|>' }}
                {% endif %}
                {% endfor %}""";
        assertEquals("<|system|>\nBe brief.</s>\n<|user|>\nHi!</s>\n<|assistant|>\n Hello. </s>\n<|user|>\nBye</s>\n"
                + "<|assistant|>\n", render(zephyr, CHAT, true));
        assertEquals("a b|    c", render("  {%- if true -%}  a {% endif %}\n  {{- 'b' -}}  |{# note #}\n    c", List.of(), true));
    }

    @Test
    void expressionsFiltersAndTests() {
        String t = "{{ messages | length }} {{ (messages | first)['role'] | upper }} {{ messages[-1].content | trim }}"
                + " {{ 'x' if foo is not defined else 'y' }} {{ 7 // 2 }} {{ 'a' ~ 1 ~ none }} {{ [1, 2] | join('-') }}"
                + " {{ 'role' in messages[0] }} {% for m in messages if m.role == 'user' %}{{ loop.index }}{% endfor %}"
                + " {{ messages[0].missing | default('d') }} {{ 'A,B'.split(',') | reverse | join }}";
        assertEquals("4 SYSTEM Bye x 3 a1None 1-2 True 12 d BA", render(t, CHAT, true));
    }

    @Test
    void theDefaultTemplateWritesRolesAndContent() {
        assertEquals("Be brief.\n\nuser: Hi!\nassistant:  Hello. \nuser: Bye\nassistant:",
                render(ChatTemplate.DEFAULT, CHAT, true));
    }

    /** What is outside the subset is refused when the template is read, with its line; nothing can reach out. */
    @Test
    void unsupportedConstructsAreRefusedAtLoadWithTheirLine() {
        var e = assertThrows(LumensparkException.class, () -> ChatTemplate.parse("ok\n{% include 'secrets.txt' %}"));
        assertEquals("chat_template: line 2: {% include %} is not supported by this server's chat templates"
                + " (supported: for, if, set)", e.getMessage());
        for (String bad : List.of("{% macro m() %}{% endmacro %}", "{{ range(10) }}", "{{ x | safe_eval }}",
                "{{ ''.join(x) }}", "{% for x in y %}", "{% if a %}", "{{ a[1:2:3] }}", "{{ cycler() }}",
                "{% import 'x' as y %}", "{{ x(1) }}", "{{ 'a' }", "{% set x.y = 1 %}")) {
            assertThrows(LumensparkException.class, () -> ChatTemplate.parse(bad), bad);
        }
        // Python's attributes are only keys here: a template sees data, never objects
        assertEquals("", render("{{ ''.__class__ }}{{ messages.__init__ }}", CHAT, true));
    }

    @Test
    void runawayOutputIsStopped() {
        String t = "{% for a in x %}{% for b in x %}{% for c in x %}{{ y }}{% endfor %}{% endfor %}{% endfor %}";
        var vars = new HashMap<String, Object>(Map.of("x", Collections.nCopies(200, 1),
                "y", "z".repeat(1000)));
        var e = assertThrows(LumensparkException.class, () -> ChatTemplate.parse(t).render(vars));
        assertTrue(e.getMessage().contains("over"), e.getMessage());
    }
}
