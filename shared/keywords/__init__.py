"""Keywords: which words mean STOP, START or HELP, in which language, and what to answer.

Owns the language packs (the only keyword word list), the whole-message classifier, the
plain-language revocation rules (English, French), the folding that compares texts, the
languages a sender uses by default, and the reply templates. Pure logic: no I/O.
"""
