"""Pull-request review: which diff lines can carry comments, how a large diff is planned into chunks,
and what the model's findings become."""
