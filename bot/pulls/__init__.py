"""From drift to a reviewed pull request.

``proposal`` turns a check's result into the exact migration file, branch and
pull request text (pure); ``git`` commits that file on a branch and pushes it
with real git; ``github`` talks to GitHub's REST API; ``flow`` runs the three
in an order that can be repeated safely: the same finding always ends at the
same branch and the same pull request.
"""
