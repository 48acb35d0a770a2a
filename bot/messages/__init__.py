"""What Quorum posts, as pure Block Kit builders over slack_sdk's models: the /compare
result (:mod:`~bot.messages.compare_result`) and how it reads in words
(:mod:`~bot.messages.result_text`), case review (:mod:`~bot.messages.case_review`), the
"Correct" modal (:mod:`~bot.messages.correction_modal`), help and notices
(:mod:`~bot.messages.commands`), the weekly digest and its chart
(:mod:`~bot.messages.digest`, :mod:`~bot.messages.digest_chart`). Nothing here calls a
model, Slack or the database."""
