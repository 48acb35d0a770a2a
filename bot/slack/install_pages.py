"""The web pages a person sees while installing Quorum: the install link, success, and
each way an install can fail, said plainly. Everything interpolated is HTML-escaped."""

from __future__ import annotations

from html import escape

#: Why an install failed, as Bolt's OAuth flow or Slack names it -> what to tell a person.
FAILURES = {
    "access_denied": (
        "Installation cancelled",
        "You chose not to install Quorum, so nothing was installed. You can start again "
        "whenever you like.",
    ),
    "invalid_browser": (
        "Please start from the install link",
        "This browser did not start this installation (or its cookie is gone). Open the "
        "install link again in this browser and approve Quorum there.",
    ),
    "invalid_state": (
        "This install link has expired",
        "Install links work once and for a few minutes. Open the install link again for a "
        "fresh one.",
    ),
    "missing_code": (
        "Slack did not confirm the installation",
        "The page Slack sent you back to carried no approval. Open the install link again.",
    ),
    "invalid_code": (
        "Slack did not confirm the installation",
        "Slack refused the approval (it may have expired or been used already). Open the "
        "install link again.",
    ),
    "storage_error": (
        "Quorum could not save the installation",
        "Its database did not answer, so nothing was installed. Please try again in a "
        "minute; if it keeps happening, tell whoever runs Quorum.",
    ),
}

_STYLE = (
    "body{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,sans-serif;"
    "max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d1c1d;line-height:1.5}"
    "h1{font-size:1.5rem}a.button{display:inline-block;background:#4a154b;color:#fff;"
    "padding:.6rem 1.2rem;border-radius:6px;text-decoration:none;font-weight:600}"
    "p.small{color:#616061;font-size:.9rem}"
)


def page(title: str, *paragraphs: str, link: tuple[str, str] | None = None) -> str:
    """A small standalone page; ``paragraphs`` are plain text, ``link`` is (url, label)."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if link is not None:
        url, label = link
        body += f'<p><a class="button" href="{escape(url, quote=True)}">{escape(label)}</a></p>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Quorum</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def install_page(authorize_url: str) -> str:
    return page(
        "Add Quorum to your Slack workspace",
        "Quorum asks a panel of AI models the same question and answers with a "
        "confidence-scored consensus. Slack will ask you to approve what it may read "
        "and post.",
        link=(authorize_url, "Add to Slack"),
    )


def success_page(team_name: str | None, open_url: str) -> str:
    where = f"“{team_name}”" if team_name else "your workspace"
    return page(
        "Quorum is installed",
        f"Quorum is now installed in {where}. Try /compare followed by a question in any "
        "channel, or open Quorum's Home tab.",
        link=(open_url, "Open Slack"),
    )


def failure_page(reason: str, install_path: str) -> str:
    title, text = FAILURES.get(
        reason,
        (
            "The installation did not finish",
            f"Slack reported “{reason[:100]}”. Nothing was installed; open the install "
            "link to try again.",
        ),
    )
    return page(title, text, link=(install_path, "Start again"))


def install_error_page(ref: str, install_path: str) -> str:
    return page(
        "Something went wrong",
        "Quorum could not handle this step of the installation. Nothing was installed; "
        f"please try again in a minute. If it keeps happening, give whoever runs Quorum "
        f"this reference: {ref}.",
        link=(install_path, "Start again"),
    )
