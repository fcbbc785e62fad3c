"""Source registry: what we know about each upstream dataset (licence, url, citation) and the licence rule.

A published corpus carries the licence of its most restrictive source. The order below is explicit and reviewed by
hand; an unregistered or local source has an unknown licence, and an unknown licence wins: we never claim rights we
cannot show. Licences are as declared on each dataset's Hub card (checked 2026-11; facts and citations as collected in
samples/sources/README.md); `note` says where that is weak. Each paper source also names the format preset its rows
are read with, so a known Hub id needs no `format:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Permissive → restrictive. `max` over this order is the rule; see `combined_licence` for the one join it needs.
LICENCE_ORDER: tuple[str, ...] = (
    "cc0-1.0",
    "mit",
    "bsd-3-clause",
    "apache-2.0",
    "cc-by-4.0",
    "odc-by",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "other",
    "unknown",
)


@dataclass(frozen=True)
class SourceInfo:
    """One upstream dataset as the card shows it."""

    dataset: str
    name: str
    licence: str
    url: str
    citation: str = ""
    note: str = ""
    preset: str | None = None  # the format preset its rows are read with (hala.pipelines.sources.presets)


_REGISTRY: tuple[SourceInfo, ...] = (
    SourceInfo("Open-Orca/OpenOrca", "OpenOrca", "mit", "https://huggingface.co/datasets/Open-Orca/OpenOrca",
               "@misc{OpenOrca, title={OpenOrca: An Open Dataset of GPT Augmented FLAN Reasoning Traces}, "
               "author={Wing Lian and Bleys Goodson and Eugene Pentland and Austin Cook and Chanvichet Vong and "
               "\"Teknium\"}, year={2023}, publisher={HuggingFace}, journal={HuggingFace repository}, "
               "howpublished={\\url{https://huggingface.co/datasets/Open-Orca/OpenOrca}}}",
               preset="openorca"),
    SourceInfo("NousResearch/Hermes-3-Dataset", "Hermes-3", "apache-2.0",
               "https://huggingface.co/datasets/NousResearch/Hermes-3-Dataset",
               "@misc{teknium2024hermes3technicalreport, title={Hermes 3 Technical Report}, author={Ryan Teknium and "
               "Jeffrey Quesnelle and Chen Guang}, year={2024}, eprint={2408.11857}, archivePrefix={arXiv}, "
               "primaryClass={cs.CL}, url={https://arxiv.org/abs/2408.11857}}",
               note="gated on the Hub: set HF_TOKEN; the card gives no citation (this is the Nous model cards' one)",
               preset="hermes3"),
    SourceInfo("EricLu/SCP-116K", "SCP-116K", "cc-by-nc-sa-4.0", "https://huggingface.co/datasets/EricLu/SCP-116K",
               "@misc{lu2025scp116khighqualityproblemsolutiondataset, title={SCP-116K: A High-Quality "
               "Problem-Solution Dataset and a Generalized Pipeline for Automated Extraction in the Higher Education "
               "Science Domain}, author={Dakuan Lu and Xiaoyu Tan and Rui Xu and Tianchu Yao and Chao Qu and Wei Chu "
               "and Yinghui Xu and Yuan Qi}, year={2025}, eprint={2501.15587}, archivePrefix={arXiv}, "
               "primaryClass={cs.CL}, url={https://arxiv.org/abs/2501.15587}}",
               note="an earlier card revision said mit; the answer is matched_solution (the reference solution)",
               preset="scp116k"),
    SourceInfo("GAIR/ReAlign-Alpaca", "ReAlign-Alpaca", "unknown",
               "https://huggingface.co/datasets/GAIR/ReAlign-Alpaca",
               "@article{fan2024reformatted, title={Reformatted Alignment}, author={Fan, Run-Ze and Li, Xuefeng and "
               "Zou, Haoyang and Li, Junlong and He, Shwai and Chern, Ethan and Hu, Jiewen and Liu, Pengfei}, "
               "year={2024}, journal={arXiv preprint arXiv:2402.12219}, url={https://arxiv.org/abs/2402.12219}}",
               note="the card declares no licence; derived from Stanford Alpaca (data CC BY-NC 4.0)",
               preset="realign_alpaca"),
    SourceInfo("MBZUAI/LaMini-instruction", "LaMini", "cc-by-nc-4.0",
               "https://huggingface.co/datasets/MBZUAI/LaMini-instruction",
               "@article{lamini-lm, author={Minghao Wu and Abdul Waheed and Chiyu Zhang and Muhammad Abdul-Mageed and "
               "Alham Fikri Aji}, title={LaMini-LM: A Diverse Herd of Distilled Models from Large-Scale "
               "Instructions}, journal={CoRR}, volume={abs/2304.14402}, year={2023}, "
               "url={https://arxiv.org/abs/2304.14402}, eprinttype={arXiv}, eprint={2304.14402}}",
               preset="lamini"),
    SourceInfo("allenai/tulu-3-sft-mixture", "Tulu-3 SFT mixture", "odc-by",
               "https://huggingface.co/datasets/allenai/tulu-3-sft-mixture",
               "@article{lambert2024tulu3, title={Tülu 3: Pushing Frontiers in Open Language Model Post-Training}, "
               "author={Nathan Lambert and Jacob Morrison and Valentina Pyatkin and Shengyi Huang and Hamish Ivison "
               "and Faeze Brahman and Lester James V. Miranda and Alisa Liu and Nouha Dziri and Shane Lyu and Yuling "
               "Gu and Saumya Malik and Victoria Graf and Jena D. Hwang and Jiangjiang Yang and Ronan Le Bras and "
               "Oyvind Tafjord and Chris Wilhelm and Luca Soldaini and Noah A. Smith and Yizhong Wang and Pradeep "
               "Dasigi and Hannaneh Hajishirzi}, year={2024}, email={tulu@allenai.org}}",
               note="a mixture: some subsets carry their own terms (some non-commercial); multilingual",
               preset="tulu3"),
    SourceInfo("Dahoas/synthetic-instruct-gptj-pairwise", "Synthetic-Instruct", "unknown",
               "https://huggingface.co/datasets/Dahoas/synthetic-instruct-gptj-pairwise", "",
               note="no licence declared on the card (DOI 10.57967/hf/1428)", preset="synthetic_instruct"),
    SourceInfo("Helsinki-NLP/opus-100", "OPUS-100", "unknown", "https://huggingface.co/datasets/Helsinki-NLP/opus-100",
               "@inproceedings{zhang-etal-2020-improving, title={Improving Massively Multilingual Neural Machine "
               "Translation and Zero-Shot Translation}, author={Biao Zhang and Philip Williams and Ivan Titov and "
               "Rico Sennrich}, booktitle={Proceedings of ACL}, year={2020}}",
               note="the card declares `unknown`; the underlying OPUS corpora have mixed terms"),
)

# Other spellings the pipelines record for the same sources (pair `origin`, short names in recipes).
_ALIASES: dict[str, str] = {
    "opus-100": "Helsinki-NLP/opus-100",
    "opus100": "Helsinki-NLP/opus-100",
    "openorca": "Open-Orca/OpenOrca",
    "hermes-3": "NousResearch/Hermes-3-Dataset",
    "scp-116k": "EricLu/SCP-116K",
    "realign-alpaca": "GAIR/ReAlign-Alpaca",
    "lamini": "MBZUAI/LaMini-instruction",
    "lamini-instruction": "MBZUAI/LaMini-instruction",
    "tulu-3": "allenai/tulu-3-sft-mixture",
    "tulu-3-sft-mixture": "allenai/tulu-3-sft-mixture",
    "synthetic-instruct": "Dahoas/synthetic-instruct-gptj-pairwise",
}

_BY_ID = {s.dataset.lower(): s for s in _REGISTRY}


def registered() -> tuple[SourceInfo, ...]:
    return _REGISTRY


def lookup(dataset: str | None) -> SourceInfo:
    """The registry entry for a recorded source id; unregistered, local or missing sources get `unknown`."""
    key = (dataset or "").strip()
    low = key.lower()
    if low in _BY_ID:
        return _BY_ID[low]
    if low in _ALIASES:
        return _BY_ID[_ALIASES[low].lower()]
    if low.startswith("teacher:"):
        # pairs the teacher produced: the text is model output over registered or unknown English sources
        return SourceInfo(key, key, "unknown", "", "", note="model output; licence depends on the model's terms")
    note = "local data" if low.startswith(("local/", "/", "./", "hala-demo/")) or not key else "not in the registry"
    return SourceInfo(key or "(unknown)", key or "(unknown)", "unknown", "", "", note=note)


def preset_for(dataset: str | None) -> str | None:
    """The format preset of a registered source (by Hub id or alias), None for any other dataset."""
    low = (dataset or "").strip().lower()
    info = _BY_ID.get(low) or _BY_ID.get(_ALIASES.get(low, "").lower())
    return info.preset if info else None


def licence_rank(licence: str) -> int:
    """Position in LICENCE_ORDER; a licence we have not ranked counts as `other`."""
    low = licence.lower()
    return LICENCE_ORDER.index(low) if low in LICENCE_ORDER else LICENCE_ORDER.index("other")


def combined_licence(licences: list[str]) -> str:
    """The most restrictive licence of the sources (by LICENCE_ORDER).

    One join the order alone cannot express: a non-commercial source plus a share-alike source gives
    `cc-by-nc-sa-4.0` (both obligations hold), which sits above both in the order anyway when neither is unknown.
    """
    if not licences:
        return "unknown"
    worst = max(licences, key=licence_rank).lower()
    if worst not in LICENCE_ORDER:
        worst = "other"
    lows = {lic.lower() for lic in licences}
    has_nc = any("-nc" in lic for lic in lows)
    has_sa = any("-sa" in lic for lic in lows)
    if has_nc and has_sa and licence_rank(worst) < licence_rank("cc-by-nc-sa-4.0"):
        worst = "cc-by-nc-sa-4.0"
    return worst


def config_name(dataset: str) -> str:
    """A `datasets` config name for a source id (stable, \\w+): `Open-Orca/OpenOrca` → `open_orca_openorca`."""
    name = re.sub(r"[^0-9a-zA-Z]+", "_", dataset or "unknown").strip("_").lower()
    return name or "unknown"
