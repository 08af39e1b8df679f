package org.keyglide;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * A langdb opened through the keyglide C kernel (a minimal JNI binding: native/jni/).
 *
 * <p>Text crosses the boundary as UTF-8 bytes (JNI's own "modified UTF-8" is not UTF-8).
 * One LangDB answers any number of threads at once; close it after every call has returned.
 */
public final class LangDB implements AutoCloseable {
    static {
        System.loadLibrary("keyglide_jni");
    }

    /** A suggested word, spelled as it is shown, and its score (log10 probability x 10000). */
    public static final class Suggestion {
        public final String word;
        public final int score;

        Suggestion(String word, int score) {
            this.word = word;
            this.score = score;
        }
    }

    private long handle;

    /** Opens (memory-maps) the langdb at {@code path}; IOException says why it cannot. */
    public LangDB(String path) throws IOException {
        handle = open(path.getBytes(StandardCharsets.UTF_8));
    }

    /** The k best words for the text before the cursor (0 <= k <= 256), best first. */
    public Suggestion[] predict(String text, int k) throws IOException {
        if (handle == 0) {
            throw new IllegalStateException("this LangDB is closed");
        }
        int[] scores = new int[Math.max(0, k)];
        byte[][] words = predict(handle, text.getBytes(StandardCharsets.UTF_8), k, scores);
        Suggestion[] out = new Suggestion[words.length];
        for (int i = 0; i < words.length; i++) {
            out[i] = new Suggestion(new String(words[i], StandardCharsets.UTF_8), scores[i]);
        }
        return out;
    }

    /** The C library's version, e.g. "1.6.0". */
    public static native String version();

    @Override
    public void close() {
        if (handle != 0) {
            close(handle);
            handle = 0;
        }
    }

    private static native long open(byte[] path) throws IOException;

    private static native byte[][] predict(long handle, byte[] text, int k, int[] scores)
            throws IOException;

    private static native void close(long handle);
}
