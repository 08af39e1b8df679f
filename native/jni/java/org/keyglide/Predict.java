package org.keyglide;

/** java org.keyglide.Predict LANGDB TEXT: prints word TAB score per suggestion. */
public final class Predict {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: Predict LANGDB TEXT");
            System.exit(2);
        }
        try (LangDB db = new LangDB(args[0])) {
            for (LangDB.Suggestion s : db.predict(args[1], 5)) {
                System.out.println(s.word + "\t" + s.score);
            }
        }
    }
}
