"""The reproduction of the study: the plan of jobs and the results layout (``plan``), the
workflow (``Snakefile``), the claims and their verdict rules (``claims``), the figures
(``figures``) and the report (``report``). The library never imports this package."""
