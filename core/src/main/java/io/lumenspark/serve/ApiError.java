package io.lumenspark.serve;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An error answered in OpenAI's shape, {@code {"error": {"message", "type", "param", "code"}}}, with its HTTP
 * status (and headers such as Retry-After).
 */
final class ApiError extends Exception {
    final int status;
    final String type, param, code;
    final Map<String, String> headers;

    ApiError(int status, String type, String message, String param, String code, Map<String, String> headers) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.headers = headers;
    }

    /** 400: an invalid parameter, named. */
    static ApiError invalid(String message, String param) {
        return new ApiError(400, "invalid_request_error", message, param, null, Map.of());
    }

    /** The body: {"error": {...}}. */
    Map<String, Object> body() {
        return body(getMessage(), type, param, code);
    }

    static Map<String, Object> body(String message, String type, String param, String code) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("message", message);
        e.put("type", type);
        e.put("param", param);
        e.put("code", code);
        return Map.of("error", e);
    }
}
