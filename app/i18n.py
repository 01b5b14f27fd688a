"""Translations: compile the catalogues at start-up, and the Flask-AppBuilder words that FAB's own
Chinese catalogue leaves out or translates badly.

Chinese (zh) is the default language. Source strings are English, wrapped in ``_l`` / ``_``;
their Chinese lives in translations/zh/LC_MESSAGES/messages.po. The compiled ``.mo`` files are not
in git: ``ensure_compiled`` builds them when missing or older than the ``.po``, so a fresh clone
runs without a build step. ``python -m app.i18n`` does the same by hand (``--force`` rebuilds all).

Updating the catalogues after a code change (from the repository root)::

    .venv/bin/pybabel extract -F translations/babel.cfg -k _l -k lazy_gettext -k _ -k gettext \\
        -o translations/messages.pot .
    .venv/bin/pybabel update -i translations/messages.pot -d translations --ignore-obsolete
    # translate the new zh entries (no fuzzy, no empty msgstr: tests/test_translations.py checks)
"""
import argparse
import logging
import os
import sys
import tempfile

log = logging.getLogger(__name__)


def N_(message):
    """Mark a string for extraction without translating it (``N_`` is a pybabel default keyword)."""
    return message


# Flask-AppBuilder's words, listed here so that pybabel extracts them into OUR catalogue, where
# their Chinese overrides FAB's (Flask-Babel loads FAB's catalogue first, then ours). Two kinds:
# words FAB's zh catalogue lacks or leaves fuzzy (a user would see English), and words FAB
# translates badly or with terms a community office would not use (注销 for "Logout" reads as
# "delete the account"; 以开始 for "Starts with" is not Chinese). tests/test_translations.py
# re-extracts FAB's own strings and fails if any of them has no Chinese in either catalogue.
FAB_MSGIDS = (
    # CRUD buttons, list widgets, confirmation, flash messages
    N_("Add"),
    N_("Edit"),
    N_("Show"),
    N_("Delete"),
    N_("Detail"),
    N_("Back"),
    N_("Save"),
    N_("Search"),
    N_("Actions"),
    N_("Record Count"),
    N_("Page size"),
    N_("Order by"),
    N_("Add a new record"),
    N_("Edit record"),
    N_("Show record"),
    N_("Delete record"),
    N_("Are you sure you want to delete this item?"),
    N_("User confirmation needed"),
    N_("No records found"),
    N_("Added Row"),
    N_("Changed Row"),
    N_("Deleted Row"),
    N_("Database Error"),
    N_("Integrity error, probably unique constraint"),
    N_("Associated data exists, please delete them first"),
    N_("Select Value"),
    N_("Not a valid choice"),
    N_("This field is required."),
    N_("Already exists."),
    # search filters
    N_("Add Filter"),
    N_("Contains (insensitive)"),
    N_("Start with"),
    N_("Starts with"),
    N_("Not Starts with"),
    N_("Ends with"),
    N_("Not Ends with"),
    N_("In"),
    N_("Not In"),
    N_("Relation"),
    N_("No Relation"),
    N_("Relation as Many"),
    # login, user info, security screens
    N_("Logout"),
    N_("Profile"),
    N_("Invalid login. Please try again."),
    N_("Sign In with "),
    N_("Account activation"),
    N_("Full Name"),
    N_("Is Active?"),
    N_("Last login"),
    N_("Created on"),
    N_("Created by"),
    N_("Changed on"),
    N_("Changed by"),
    N_("Write the user first name or names"),
    N_("Write the user last name"),
    N_("Your user information"),
    N_("Edit User Information"),
    N_("User information changed"),
    N_("The user's password for authentication"),
    N_("It's not a good policy to remove a user, just make it inactive"),
    N_("Must have at least two capital letters, one special character, two digits, three lower case "
       "letters and a minimal length of 10."),
    N_("Failed login count"),
    N_("Show User"),
    N_("Add User"),
    N_("Show Role"),
    N_("Add Role"),
    N_("Groups"),
    N_("List Groups"),
    N_("Show Group"),
    N_("Add Group"),
    N_("Edit Group"),
    N_("The user role on the application, this will associate with a list of permissions"),
    N_("The user group on the application, this will associate with a list of roles associated with the "
       "group"),
    N_("Either select a role or a group"),
    N_("User(s) exists in the role, cannot delete"),
    N_("User(s) exists in the group, cannot delete"),
    N_("User Registrations"),
    N_("Registration not found"),
    N_("Show Registration"),
    N_("List Base Permissions"),
    N_("Show Base Permission"),
    N_("Add Base Permission"),
    N_("List View Menus"),
    N_("Show View Menu"),
    N_("Add View Menu"),
    N_("Show Permission on Views/Menus"),
    N_("Add Permission on Views/Menus"),
    # Words FAB's templates hard-code in English (confirm.html, alert.html, ab_actions.js): ready
    # for overrides under app/templates/appbuilder/general/ that wrap them in _().
    N_("OK"),
    N_("Cancel"),
    N_("No row selected"),
    # Flask-WTF's CSRF messages (FAB shows form errors through _())
    N_("The CSRF token is missing."),
    N_("The CSRF session token is missing."),
    N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."),
    N_("The CSRF tokens do not match."),
)


def _catalogues(translations_dir):
    """Yield (locale, domain, po path, mo path) for each <locale>/LC_MESSAGES/<domain>.po."""
    if not os.path.isdir(translations_dir):
        return
    for locale in sorted(os.listdir(translations_dir)):
        messages_dir = os.path.join(translations_dir, locale, "LC_MESSAGES")
        if not os.path.isdir(messages_dir):
            continue
        for name in sorted(os.listdir(messages_dir)):
            if name.endswith(".po"):
                po_path = os.path.join(messages_dir, name)
                yield locale, name[:-3], po_path, po_path[:-3] + ".mo"


def _needs_compiling(po_path, mo_path):
    try:
        return os.stat(mo_path).st_mtime_ns < os.stat(po_path).st_mtime_ns
    except FileNotFoundError:
        return True


def compile_catalogue(po_path, mo_path, locale=None, domain=None):
    """Compile one .po into a .mo atomically: write a temporary file beside it, then os.replace,
    so a concurrent process never reads a half-written catalogue. Fuzzy entries are left out."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po_path, "rb") as po_file:
        catalog = read_po(po_file, locale=locale, domain=domain)
    directory = os.path.dirname(mo_path)
    fd, tmp_path = tempfile.mkstemp(prefix=".%s." % os.path.basename(mo_path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, mo_path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except OSError:
            pass
        raise
    return catalog


def ensure_compiled(translations_dir, force=False):
    """Compile every <locale>/LC_MESSAGES/*.po under ``translations_dir`` whose .mo is missing or
    older than the .po (all of them with ``force``). Returns the paths of the .mo files written.

    A catalogue that cannot be compiled (read-only checkout, broken .po) is logged and skipped:
    the app then falls back to the source English rather than refusing to start."""
    written = []
    translations_dir = os.fspath(translations_dir)
    if not os.path.isdir(translations_dir):
        log.warning("No translations directory %s: nothing to compile", translations_dir)
        return written
    for locale, domain, po_path, mo_path in _catalogues(translations_dir):
        if not force and not _needs_compiling(po_path, mo_path):
            continue
        try:
            compile_catalogue(po_path, mo_path, locale=locale, domain=domain)
        except Exception:  # noqa: BLE001 - a missing translation must not stop the app
            log.exception("Could not compile the translation catalogue %s", po_path)
            continue
        log.info("Compiled %s", mo_path)
        written.append(mo_path)
    return written


def default_translations_dir():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "translations")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m app.i18n",
                                     description="Compile the translation catalogues (.po -> .mo).")
    parser.add_argument("translations_dir", nargs="?", default=default_translations_dir())
    parser.add_argument("--force", action="store_true", help="rebuild every .mo, even when up to date")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.translations_dir):
        parser.error("no such directory: %s" % args.translations_dir)
    written = ensure_compiled(args.translations_dir, force=args.force)
    for path in written:
        print("compiled", path)
    stale = [po for _, _, po, mo in _catalogues(args.translations_dir) if _needs_compiling(po, mo)]
    for path in stale:
        print("could not compile", path, file=sys.stderr)
    if not written and not stale:
        print("translations up to date in", args.translations_dir)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
