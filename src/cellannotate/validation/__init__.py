"""Step 2: is the matrix usable, and what is it (:mod:`.matrix`); the report that says so (:mod:`.report`)."""
