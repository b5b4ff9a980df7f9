"""The intake: every request to start a task, from any front end, becomes one typed `Trigger` (built by the
front end's pure parser) and passes the same chain of small steps — audit, dedupe, authorise, rate-limit,
route — before the queue stores it (`core/intake/chain.py`). Adding a trigger kind is one parser and one spec."""
