"""The Slack edge: the Web API client every part posts with (:mod:`~bot.slack.client`),
the check a request passes before Bolt parses it (:mod:`~bot.slack.request_guard`),
Markdown to mrkdwn with escaping and safe splitting (:mod:`~bot.slack.mrkdwn`), friendly
error text with a reference id (:mod:`~bot.slack.errors`) and background tasks kept
referenced (:mod:`~bot.slack.background_tasks`)."""
