"""Alert rules, evaluation and notifications (issue 4). Nothing here yet."""
