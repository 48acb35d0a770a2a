"""Quorum's composition roots: the Slack bot, the CLI and the scheduler.

====================  ================================================================
``bot.app``           build the Bolt app: one client, signature checks, every listener
``bot.server``        serve it: HTTP (``POST /slack/events``, ``GET /healthz``) or Socket Mode
``bot.listeners``     Slack's front door: /compare, reactions, corrections, review, digest
``bot.cli``           the terminal's front door: the ``quorum`` command
``bot.compare``       the /compare flow: limits, progress, delivery, shadow, case intake
``bot.messages``      Block Kit builders and how a result reads in words (never call a model)
``bot.slack``         the Slack edge: Web API client, request guard, mrkdwn, friendly errors
``bot.schedule``      the weekly jobs (eval run, digest, calibrator refit) and APScheduler
``bot.eval_runs``     the one eval-run service behind ``quorum eval run``, the schedule
                      and ``quorum worker``; worker processes; the task queue
``bot.runtime``       settings, quorum.yaml, the services built once, logging, preflight
====================  ================================================================
"""
