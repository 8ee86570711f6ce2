"""The experiment tooling around the research core, each a command of ``python -m lit_draw``:

* :mod:`~lit_draw.experiments.reproduce` (``reproduce``): the published setups over seeds, with
  :mod:`~lit_draw.experiments.results` (``results.json`` and ``RESULTS.md``);
* :mod:`~lit_draw.experiments.figures` (``figures``): the study's figures, drawn with
  :mod:`~lit_draw.experiments.plots`; :mod:`~lit_draw.experiments.halting_frontier`
  (``halting-frontier``): the learned-halting figure;
* :mod:`~lit_draw.experiments.sweep` (``sweep``): a W&B sweep file run locally;
* :mod:`~lit_draw.experiments.bench` (``bench``): the speed table.

They run the CLI (:mod:`lit_draw.cli`); the CLI does not know them: :mod:`lit_draw.__main__`
registers each as a command (:data:`lit_draw.__main__.COMMANDS`).
"""
