"""Synthetic raw source for modsweep: realistic items, planted violations, campaigns and dirty rows (one day at a time).

The generator is the test bed for every later stage, so it plants the problems a Trust & Safety team meets:

* items in 9 languages correlated with 13 regions, Zipf-distributed author activity, heavy-tailed views;
* violations of every policy at configurable base rates, whose ground truth goes to a *separate* truth table
  (schema ``TRUTH``) and never into the items;
* lexicon gaps (the pack's lexicons hold ~60 % of the generator's phrasebook), benign "confuser" posts that
  use lexicon words harmlessly, and obfuscated violating text (leetspeak, repeated letters, zero-width spaces);
* coordinated campaigns: near-duplicate posts from >= 10 young accounts within minutes, one spanning two chunks;
* AI-generated media with provenance, disclosed or not, and user reports correlated with violations and reach;
* dirty rows of every kind ingest must quarantine or repair (see ``DIRTY_KINDS``).

Raw-source contract (``RAW_ITEMS``): the canonical ``ITEMS`` columns, except that ``created_at`` is an ISO-8601
*string* (so bad timestamps can exist), ``item_id`` may be null and ``user_reports`` is int64.

Dirty rows never carry a violation and are never in the truth table. A ``duplicate_item_id`` row is the *later*
occurrence (same chunk, or the next chunk for a cross-chunk duplicate) of an id whose first occurrence is a clean
row; that first occurrence may be in the truth table, and ingest is expected to keep it and quarantine the copy.
"""

from __future__ import annotations

import math
import os
import random
import re
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modsweep.schemas import ITEM_TYPES, ITEMS, LANGUAGES, POLICY_IDS, TRUTH
from modsweep.tasks.text import splitmix64

SOURCE_NAME = "synthetic"

# --- raw-source contract ------------------------------------------------------------------------------------

_RAW_OVERRIDES = {
    "item_id": pa.field("item_id", pa.string(), nullable=True),
    "created_at": pa.field("created_at", pa.string(), nullable=False),
    "user_reports": pa.field("user_reports", pa.int64(), nullable=False),
}
RAW_ITEMS = pa.schema([_RAW_OVERRIDES.get(f.name, f) for f in ITEMS])

# --- dirty rows ---------------------------------------------------------------------------------------------

DIRTY_KINDS: tuple[str, ...] = (
    "null_item_id",  # item_id is null
    "duplicate_item_id",  # item_id of an earlier clean row, same chunk or previous chunk
    "bad_timestamp",  # unparseable created_at: "not-a-date", "2026-13-45T25:00:00Z", "", ...
    "naive_timestamp",  # created_at without a timezone: "2026-11-23 10:00:00"
    "invalid_enum",  # item_type "podcast", region "XX" / "usa", language "english"
    "mojibake_text",  # UTF-8 bytes decoded as cp1252 ("cafÃ© Ã  la"): repairable with .encode("cp1252").decode()
    "undecodable_text",  # text with U+FFFD replacement characters: the original bytes are lost
    "negative_views",  # views < 0
    "oversize_text",  # text longer than 1,000,000 characters (at most one row per chunk)
)
# The quarantine reason (schemas.QUARANTINE_REASONS) each kind should get at ingest; None = repair and keep.
QUARANTINE_REASON_BY_DIRTY_KIND: dict[str, str | None] = {
    "null_item_id": "null_item_id",
    "duplicate_item_id": "duplicate_item_id",
    "bad_timestamp": "bad_timestamp",
    "naive_timestamp": "bad_timestamp",
    "invalid_enum": "invalid_enum",
    "mojibake_text": None,
    "undecodable_text": "undecodable_text",
    "negative_views": "invalid_value",
    "oversize_text": "oversize_text",
}
_HASHED_DIRTY_KINDS = len(DIRTY_KINDS) - 1  # every kind but oversize is drawn per row
_OVERSIZE = DIRTY_KINDS.index("oversize_text")

# --- defaults -----------------------------------------------------------------------------------------------

DEFAULT_VIOLATION_RATES: dict[str, float] = {
    "misinfo.medical": 0.008,
    "civic.election_integrity": 0.005,
    "aigc.undisclosed": 0.006,
    "hate.speech": 0.012,
    "violent_extremism": 0.002,
    "self_harm": 0.003,
    "minor_safety": 0.001,
    "deceptive.spam": 0.025,
    "deceptive.coordinated": 0.002,
}
DEFAULT_REGION_WEIGHTS: dict[str, float] = {
    "US": 0.26, "IN": 0.18, "BR": 0.11, "GB": 0.05, "MX": 0.04, "DE": 0.08, "FR": 0.07,
    "ES": 0.06, "IT": 0.05, "PL": 0.04, "NL": 0.03, "BE": 0.02, "AT": 0.01,
}  # fmt: skip
# Language mix of each region's authors.
REGION_LANGUAGES: dict[str, dict[str, float]] = {
    "US": {"en": 0.85, "es": 0.15},
    "IN": {"hi": 0.55, "en": 0.45},
    "BR": {"pt": 0.95, "en": 0.05},
    "GB": {"en": 0.96, "pl": 0.04},
    "MX": {"es": 0.95, "en": 0.05},
    "DE": {"de": 0.92, "en": 0.08},
    "FR": {"fr": 0.93, "en": 0.07},
    "ES": {"es": 0.93, "en": 0.07},
    "IT": {"it": 0.93, "en": 0.07},
    "PL": {"pl": 0.93, "en": 0.07},
    "NL": {"nl": 0.85, "en": 0.15},
    "BE": {"nl": 0.5, "fr": 0.42, "en": 0.08},
    "AT": {"de": 0.95, "en": 0.05},
}
_TYPE_P = {"video": 0.3, "comment": 0.3, "live": 0.04, "image": 0.15, "text_post": 0.15, "ad": 0.06}
_TYPE_VIEW_MULT = {"video": 2.5, "comment": 0.15, "live": 1.5, "image": 1.2, "text_post": 0.8, "ad": 4.0}
_MEDIA_TYPES = ("video", "image", "ad")
_PROVENANCE = {
    "video": ("c2pa:sora", "synthid:veo", "c2pa:runway-gen3"),
    "image": ("c2pa:dall-e-3", "c2pa:firefly", "synthid:imagen", "c2pa:gpt-image-1"),
    "ad": ("c2pa:firefly", "c2pa:dall-e-3", "synthid:imagen", "c2pa:sora"),
}
# User-report reasons per policy (the pack's `reports` detectors match on these) and background noise.
REPORT_REASONS: dict[str, tuple[str, ...]] = {
    "misinfo.medical": ("misinformation", "health"),
    "civic.election_integrity": ("election", "misinformation"),
    "aigc.undisclosed": ("ai_generated", "misleading"),
    "hate.speech": ("hate", "harassment", "bullying"),
    "violent_extremism": ("violence", "terrorism"),
    "self_harm": ("self_harm", "suicide"),
    "minor_safety": ("minor_safety", "child_safety"),
    "deceptive.spam": ("spam", "scam"),
    "deceptive.coordinated": ("spam", "fake_account"),
}
_NOISE_REASONS = ("other", "dislike", "spam", "misinformation", "hate", "nudity", "bullying")
# fmt: off
# (hand-laid tables from here to `fmt: on`: kept compact, out of the formatter's reach)
# Expected reports per sqrt(views / 100): violating content is reported far more often than benign content.
_REPORT_RATE = {
    "misinfo.medical": 0.25, "civic.election_integrity": 0.3, "aigc.undisclosed": 0.1, "hate.speech": 0.5,
    "violent_extremism": 0.6, "self_harm": 0.3, "minor_safety": 0.45, "deceptive.spam": 0.35,
    "deceptive.coordinated": 0.1, "benign": 0.006, "confuser": 0.03,
}

# --- text: benign content per language ---------------------------------------------------------------------

TOPICS: tuple[str, ...] = ("food", "sport", "music", "travel", "weather", "family", "tech", "politics")
_TOPIC_TAGS: dict[str, tuple[str, ...]] = {
    "food": ("#foodie", "#homecooking", "#yum", "#recipe"),
    "sport": ("#matchday", "#running", "#football", "#fitness"),
    "music": ("#nowplaying", "#livemusic", "#newmusic", "#concert"),
    "travel": ("#travel", "#wanderlust", "#weekendtrip", "#roadtrip"),
    "weather": ("#weather", "#sunset", "#rainyday", "#snow"),
    "family": ("#family", "#sundayvibes", "#proudparent", "#puppy"),
    "tech": ("#tech", "#coding", "#gadgets", "#opensource"),
    "politics": ("#localpolitics", "#citycouncil", "#community", "#debate"),
}
_POLICY_TAGS: dict[str, tuple[str, ...]] = {
    "misinfo.medical": ("#doyourownresearch", "#vaccineinjury", "#naturalhealing"),
    "civic.election_integrity": ("#electionfraud", "#riggedelection", "#wakeup"),
    "self_harm": ("#sad", "#tired", "#alone"),
    "deceptive.spam": ("#giveaway", "#freefollowers", "#crypto", "#followforfollow"),
}
_EMOJI = ("🔥", "😂", "❤️", "👍", "🙏", "😍", "🎉", "😭", "✨", "💯", "👀", "🙌")

# Each language: sentence templates ({n} noun phrase, {t} time, {x} evaluation), slot fillers per topic,
# ready-made lines per topic, ad calls to action, filler words (campaign edits), an accented line (mojibake).
_BENIGN: dict[str, dict] = {
    "en": {
        "templates": ("{n} {t} was {x}.", "Can't stop thinking about {n}.", "Anyone else obsessed with {n}?",
                      "Finally tried {n} and it was {x}.", "Not gonna lie, {n} {t} was {x}.", "Who's up for {n} {t}?",
                      "Throwback to {n}, still {x}.", "Honestly {n} made my day."),
        "evals": ("amazing", "so good", "pretty decent", "a bit overrated", "unreal", "lovely",
                  "way better than expected", "fine I guess"),
        "times": ("today", "last night", "this weekend", "yesterday", "this morning", "tonight"),
        "nouns": {
            "food": ("the new ramen place", "grandma's lasagna", "homemade sourdough", "that taco truck downtown",
                     "the farmers market", "mango smoothies"),
            "sport": ("the derby", "the marathon", "our pickup basketball game", "the league final", "my morning run",
                      "the cricket highlights"),
            "music": ("the new album", "the gig at the club", "that festival lineup", "my guitar practice",
                      "the jazz night", "this playlist"),
            "travel": ("the road trip", "the train to the coast", "our weekend in the mountains", "the old town",
                       "the ferry ride", "the night market"),
            "weather": ("the thunderstorm", "the first snow", "this heatwave", "the rainy commute", "the sunset",
                        "the fog"),
            "family": ("my sister's wedding", "the kids' school play", "Sunday lunch with my parents",
                       "my nephew's birthday", "family game night", "the new puppy"),
            "tech": ("the new phone update", "my home server build", "the coding bootcamp", "the new laptop",
                     "this budget smartwatch", "the open source meetup"),
            "politics": ("the town hall meeting", "the council vote on bike lanes", "the new library budget",
                         "the candidates' debate", "the park petition", "the school board meeting"),
        },
        "lines": {
            "food": ("Cooking for friends tonight, wish me luck.", "Recipe in the comments if anyone wants it."),
            "sport": ("What a comeback in the second half!", "Training hard for the 10k next month."),
            "music": ("On repeat all week.", "The crowd was singing every word."),
            "travel": ("Packing list is longer than the trip lol.", "Views from the hike were worth every step."),
            "weather": ("Forgot my umbrella again.", "Perfect weather for a walk."),
            "family": ("So proud of this little one.", "Grandpa still beats everyone at chess."),
            "tech": ("Battery life is finally decent.", "Spent the whole evening debugging, worth it."),
            "politics": ("Read both manifestos before deciding.", "Good turnout at the community forum."),
        },
        "cta": ("Shop now.", "Order today, free returns.", "Learn more on our website."),
        "openers": ("Okay so", "Honestly,", "Update:", "Guys,", "Wow.", "Quick one:", "Not sure about you but", "PSA:",
                    "Lowkey", "Ngl"),
        "closers": ("Can't wait for next time.", "10/10 would recommend.", "Who's coming with me?", "Thoughts?",
                    "Still smiling.", "Need a nap now.", "Tag someone who needs this.", "More pics later.",
                    "Best part of my week.", "Back to reality tomorrow."),
        "fillers": ("really", "seriously", "literally"),
        "accent": "Café crème à la française, très bon — naïve résumé.",
    },
    "es": {
        "templates": ("{n} {t} estuvo {x}.", "No paro de pensar en {n}.", "¿Alguien más obsesionado con {n}?",
                      "Por fin probé {n} y fue {x}.", "Sin mentir, {n} {t} fue {x}.", "¿Quién se apunta a {n} {t}?",
                      "Recuerdo de {n}, sigue siendo {x}.", "{n} me alegró el día."),
        "evals": ("genial", "increíble", "espectacular", "brutal", "de diez", "mejor de lo esperado", "regular",
                  "lo más"),
        "times": ("hoy", "anoche", "este finde", "ayer", "esta mañana", "esta noche"),
        "nouns": {
            "food": ("el nuevo sitio de ramen", "la lasaña de la abuela", "el pan de masa madre casero",
                     "los tacos del centro", "el mercado del barrio", "la paella del domingo"),
            "sport": ("el clásico", "la maratón", "el partido de pádel", "la final de liga", "mi carrera matutina",
                      "el partido de tenis"),
            "music": ("el nuevo disco", "el concierto en la sala", "el cartel del festival", "mi práctica de guitarra",
                      "la noche de jazz", "esta playlist"),
            "travel": ("el viaje en coche", "el tren a la costa", "el finde en la sierra", "el casco antiguo",
                       "el ferry", "el mercado nocturno"),
            "weather": ("la tormenta", "la primera nevada", "esta ola de calor", "la lluvia de camino al trabajo",
                        "el atardecer", "la niebla"),
            "family": ("la boda de mi hermana", "la función del cole", "la comida del domingo con mis padres",
                       "el cumple de mi sobrino", "la noche de juegos en familia", "el cachorro nuevo"),
            "tech": ("la actualización del móvil", "mi servidor casero", "el bootcamp de programación",
                     "el portátil nuevo", "este reloj inteligente barato", "la quedada de software libre"),
            "politics": ("el pleno del ayuntamiento", "la votación del carril bici", "el presupuesto de la biblioteca",
                         "el debate de candidatos", "la recogida de firmas del parque",
                         "la reunión del consejo escolar"),
        },
        "lines": {
            "food": ("Cocino para amigos esta noche, deseadme suerte.",
                     "Receta en los comentarios si alguien la quiere."),
            "sport": ("¡Qué remontada en la segunda parte!", "Entrenando para los 10k del mes que viene."),
            "music": ("En bucle toda la semana.", "El público cantó todas las canciones."),
            "travel": ("La lista de equipaje es más larga que el viaje jaja.",
                       "Las vistas de la ruta valieron cada paso."),
            "weather": ("Otra vez sin paraguas.", "Tiempo perfecto para pasear."),
            "family": ("Qué orgullo de esta pequeña.", "El abuelo sigue ganando a todos al ajedrez."),
            "tech": ("Por fin la batería dura algo.", "Toda la tarde depurando código, valió la pena."),
            "politics": ("Leed los programas antes de decidir.", "Buena participación en el foro vecinal."),
        },
        "cta": ("Compra ya.", "Pide hoy, devolución gratis.", "Más información en nuestra web."),
        "openers": ("Bueno,", "A ver,", "Actualización:", "Chicos,", "Madre mía.", "Rápido:", "No sé vosotros pero",
                    "Aviso:", "Sinceramente,", "Oye,"),
        "closers": ("Con ganas de repetir.", "Lo recomiendo al cien por cien.", "¿Quién se viene?", "¿Qué opináis?",
                    "Todavía sonriendo.", "Necesito una siesta.", "Etiqueta a quien lo necesite.", "Más fotos luego.",
                    "Lo mejor de la semana.", "Mañana vuelta a la rutina."),
        "fillers": ("de verdad", "en serio", "literalmente"),
        "accent": "¡Qué año, señor! Mañana café con leche y piñones.",
    },
    "pt": {
        "templates": ("{n} {t} foi {x}.", "Não paro de pensar em {n}.", "Mais alguém viciado em {n}?",
                      "Finalmente experimentei {n} e foi {x}.", "Sem mentira, {n} {t} foi {x}.", "Quem topa {n} {t}?",
                      "Lembrança de {n}, continua {x}.", "{n} fez meu dia."),
        "evals": ("incrível", "demais", "sensacional", "top", "melhor do que eu esperava", "mais ou menos",
                  "show de bola", "nota dez"),
        "times": ("hoje", "ontem à noite", "nesse fim de semana", "ontem", "hoje de manhã", "hoje à noite"),
        "nouns": {
            "food": ("o novo lugar de lámen", "a lasanha da vovó", "o pão de fermentação natural", "o pastel da feira",
                     "o açaí da esquina", "a feijoada de sábado"),
            "sport": ("o clássico", "a maratona", "a pelada de domingo", "a final do campeonato",
                      "minha corrida de manhã", "o jogo de vôlei"),
            "music": ("o álbum novo", "o show no bar", "a programação do festival", "meu treino de violão",
                      "a roda de samba", "essa playlist"),
            "travel": ("a viagem de carro", "o ônibus pro litoral", "o fim de semana na serra", "o centro histórico",
                       "a travessia de balsa", "a feira noturna"),
            "weather": ("a tempestade", "essa onda de calor", "a chuva no caminho do trabalho", "o pôr do sol",
                        "a neblina", "o friozinho"),
            "family": ("o casamento da minha irmã", "a apresentação da escola", "o almoço de domingo com meus pais",
                       "o aniversário do meu sobrinho", "a noite de jogos em família", "o filhote novo"),
            "tech": ("a atualização do celular", "meu servidor caseiro", "o bootcamp de programação",
                     "o notebook novo", "esse relógio inteligente barato", "o encontro de software livre"),
            "politics": ("a sessão da câmara municipal", "a votação da ciclovia", "o orçamento da biblioteca",
                         "o debate dos candidatos", "o abaixo-assinado do parque", "a reunião do conselho escolar"),
        },
        "lines": {
            "food": ("Cozinhando pros amigos hoje, me desejem sorte.", "Receita nos comentários se alguém quiser."),
            "sport": ("Que virada no segundo tempo!", "Treinando pros 10 km do mês que vem."),
            "music": ("No repeat a semana toda.", "A galera cantou todas as músicas."),
            "travel": ("A lista de mala é maior que a viagem kkk.", "A vista da trilha valeu cada passo."),
            "weather": ("Esqueci o guarda-chuva de novo.", "Tempo perfeito pra caminhar."),
            "family": ("Que orgulho dessa pequena.", "O vovô ainda ganha de todo mundo no xadrez."),
            "tech": ("A bateria finalmente dura.", "Passei a noite depurando código, valeu a pena."),
            "politics": ("Leiam as propostas antes de decidir.", "Boa participação na audiência pública."),
        },
        "cta": ("Compre já.", "Peça hoje, frete grátis.", "Saiba mais no nosso site."),
        "openers": ("Então,", "Gente,", "Atualização:", "Olha,", "Nossa.", "Rapidinho:", "Não sei vocês mas", "Aviso:",
                    "Sinceramente,", "Bom,"),
        "closers": ("Já quero repetir.", "Recomendo demais.", "Quem vem junto?", "O que vocês acham?",
                    "Ainda sorrindo.", "Preciso de um cochilo.", "Marca alguém que precisa ver isso.",
                    "Mais fotos depois.", "Melhor parte da semana.", "Amanhã volta a rotina."),
        "fillers": ("sério", "mesmo", "literalmente"),
        "accent": "Ação e coração: não é só pão de queijo, é tradição.",
    },
    "fr": {
        "templates": ("{n} {t}, c'était {x}.", "Impossible d'oublier {n}.", "Qui aime {n} autant que moi ?",
                      "J'ai enfin testé {n} et c'était {x}.", "Franchement, {n} {t}, c'était {x}.",
                      "Qui est chaud pour {n} {t} ?", "Souvenir : {n}, toujours {x}.", "{n} a illuminé ma journée."),
        "evals": ("génial", "top", "incroyable", "trop bien", "mieux que prévu", "pas mal", "moyen", "au top"),
        "times": ("aujourd'hui", "hier soir", "ce week-end", "hier", "ce matin", "ce soir"),
        "nouns": {
            "food": ("le nouveau resto de ramen", "les lasagnes de mamie", "le pain au levain maison",
                     "la crêperie du coin", "le marché du dimanche", "la raclette entre amis"),
            "sport": ("le derby", "le marathon", "le match de basket du quartier", "la finale de la ligue",
                      "mon footing du matin", "le match de tennis"),
            "music": ("le nouvel album", "le concert au club", "la programmation du festival",
                      "ma répétition de guitare", "la soirée jazz", "cette playlist"),
            "travel": ("le road trip", "le train pour la côte", "le week-end à la montagne", "la vieille ville",
                       "la traversée en ferry", "le marché de nuit"),
            "weather": ("l'orage", "la première neige", "cette canicule", "la pluie sur le trajet",
                        "le coucher de soleil", "le brouillard"),
            "family": ("le mariage de ma sœur", "le spectacle de l'école", "le déjeuner du dimanche chez mes parents",
                       "l'anniversaire de mon neveu", "la soirée jeux en famille", "le nouveau chiot"),
            "tech": ("la mise à jour du téléphone", "mon serveur maison", "le bootcamp de code", "le nouveau portable",
                     "cette montre connectée pas chère", "la rencontre logiciel libre"),
            "politics": ("le conseil municipal", "le vote sur les pistes cyclables", "le budget de la médiathèque",
                         "le débat des candidats", "la pétition pour le parc", "la réunion des parents d'élèves"),
        },
        "lines": {
            "food": ("Je cuisine pour des amis ce soir, souhaitez-moi bonne chance.",
                     "Recette en commentaire si ça intéresse quelqu'un."),
            "sport": ("Quelle remontada en deuxième mi-temps !", "Je m'entraîne pour le 10 km du mois prochain."),
            "music": ("En boucle toute la semaine.", "Le public a chanté chaque chanson."),
            "travel": ("La liste de bagages est plus longue que le voyage mdr.",
                       "La vue de la rando valait chaque pas."),
            "weather": ("J'ai encore oublié mon parapluie.", "Temps parfait pour une balade."),
            "family": ("Trop fière de cette petite.", "Papy bat encore tout le monde aux échecs."),
            "tech": ("La batterie tient enfin la journée.", "Toute la soirée à déboguer, ça valait le coup."),
            "politics": ("Lisez les programmes avant de choisir.", "Belle participation à la réunion de quartier."),
        },
        "cta": ("Achetez maintenant.", "Commandez aujourd'hui, retour gratuit.", "En savoir plus sur notre site."),
        "openers": ("Bon,", "Alors,", "Petite mise à jour :", "Les amis,", "Waouh.", "Vite fait :",
                    "Je sais pas vous mais", "Info :", "Franchement,", "Bref,"),
        "closers": ("Vivement la prochaine fois.", "Je recommande à fond.", "Qui vient avec moi ?",
                    "Vous en pensez quoi ?", "Toujours le sourire.", "Besoin d'une sieste.",
                    "Identifiez quelqu'un qui en a besoin.", "Plus de photos plus tard.",
                    "Le meilleur moment de la semaine.", "Retour à la réalité demain."),
        "fillers": ("vraiment", "sérieusement", "littéralement"),
        "accent": "Café crème à la française, très bon — déjà l'été.",
    },
    "de": {
        "templates": ("{n} {t} war {x}.", "{n} – einfach {x}.", "Ehrlich gesagt: {n} {t} war {x}.",
                      "Endlich ausprobiert: {n}. {x}!", "Wer ist dabei? {n} {t}!", "Erinnerung: {n}, immer noch {x}.",
                      "{n} hat mir den Tag gerettet.", "Kurzes Update: {n} {t}."),
        "evals": ("super", "mega", "richtig gut", "der Hammer", "besser als erwartet", "ganz okay",
                  "etwas überbewertet", "einfach toll"),
        "times": ("heute", "gestern Abend", "am Wochenende", "gestern", "heute Morgen", "heute Abend"),
        "nouns": {
            "food": ("der neue Ramen-Laden", "Omas Lasagne", "das selbstgebackene Sauerteigbrot",
                     "der Dönerladen am Bahnhof", "der Wochenmarkt", "die Käsespätzle"),
            "sport": ("das Derby", "der Marathon", "das Basketballspiel im Park", "das Pokalfinale", "mein Morgenlauf",
                      "das Tennismatch"),
            "music": ("das neue Album", "das Konzert im Club", "das Festival-Line-up", "meine Gitarrenstunde",
                      "der Jazzabend", "diese Playlist"),
            "travel": ("der Roadtrip", "die Zugfahrt an die Küste", "das Wochenende in den Bergen", "die Altstadt",
                       "die Fährfahrt", "der Nachtmarkt"),
            "weather": ("das Gewitter", "der erste Schnee", "diese Hitzewelle", "der Regen auf dem Arbeitsweg",
                        "der Sonnenuntergang", "der Nebel"),
            "family": ("die Hochzeit meiner Schwester", "die Schulaufführung", "das Sonntagsessen bei meinen Eltern",
                       "der Geburtstag meines Neffen", "der Spieleabend mit der Familie", "der neue Welpe"),
            "tech": ("das neue Handy-Update", "mein Heimserver", "das Coding-Bootcamp", "der neue Laptop",
                     "diese günstige Smartwatch", "das Open-Source-Treffen"),
            "politics": ("die Gemeinderatssitzung", "die Abstimmung über Radwege", "der Bibliothekshaushalt",
                         "die Diskussion der Kandidaten", "die Petition für den Park", "der Elternabend"),
        },
        "lines": {
            "food": ("Heute koche ich für Freunde, drückt mir die Daumen.",
                     "Rezept in den Kommentaren, falls jemand will."),
            "sport": ("Was für eine Aufholjagd in der zweiten Halbzeit!",
                      "Ich trainiere für den 10-km-Lauf nächsten Monat."),
            "music": ("Läuft die ganze Woche in Dauerschleife.", "Das Publikum hat jedes Lied mitgesungen."),
            "travel": ("Die Packliste ist länger als die Reise haha.",
                       "Die Aussicht von der Wanderung war jeden Schritt wert."),
            "weather": ("Schon wieder den Regenschirm vergessen.", "Perfektes Wetter für einen Spaziergang."),
            "family": ("So stolz auf die Kleine.", "Opa schlägt immer noch alle im Schach."),
            "tech": ("Der Akku hält endlich durch.", "Den ganzen Abend debuggt, hat sich gelohnt."),
            "politics": ("Lest die Wahlprogramme, bevor ihr entscheidet.", "Gute Beteiligung beim Bürgerforum."),
        },
        "cta": ("Jetzt kaufen.", "Heute bestellen, kostenlose Rücksendung.", "Mehr auf unserer Website."),
        "openers": ("Also,", "Leute,", "Kleines Update:", "Boah.", "Kurz:", "Keine Ahnung wie es euch geht, aber",
                    "Info:", "Ehrlich,", "Na ja,", "Ganz ehrlich:"),
        "closers": ("Freue mich schon aufs nächste Mal.", "Klare Empfehlung.", "Wer kommt mit?", "Was meint ihr?",
                    "Immer noch am Grinsen.", "Jetzt brauche ich ein Nickerchen.",
                    "Markiert jemanden, der das braucht.", "Mehr Fotos später.", "Bester Teil der Woche.",
                    "Morgen wieder Alltag."),
        "fillers": ("echt", "wirklich", "ehrlich"),
        "accent": "Schöne Grüße aus München, übrigens: Käsespätzle für alle.",
    },
    "hi": {
        "templates": ("{n} {t} ekdum {x} tha!", "{n} ke baare mein sochna band nahi ho raha.",
                      "Aur kisko {n} pasand hai?", "Finally {n} try kiya, {x}!", "Sach bolun toh {n} {t} {x} tha.",
                      "Kaun chal raha hai {n} ke liye {t}?", "Throwback: {n}, abhi bhi {x}.", "{n} ne din bana diya."),
        "evals": ("zabardast", "mast", "kamaal", "bahut badhiya", "expected se better", "theek-thaak", "bindaas",
                  "shandaar"),
        "times": ("aaj", "kal raat", "is weekend", "kal", "aaj subah", "aaj shaam"),
        "nouns": {
            "food": ("naya momos wala stall", "mummy ke haath ka rajma chawal", "gharwali biryani", "chowk ki chaat",
                     "sabzi mandi", "masala chai aur samose"),
            "sport": ("India vs Australia match", "marathon", "gully cricket", "IPL final", "meri morning walk",
                      "kabaddi league"),
            "music": ("naya album", "club wala gig", "festival lineup", "meri guitar practice", "qawwali night",
                      "ye playlist"),
            "travel": ("road trip", "Goa wali train", "pahadon mein weekend", "purani dilli", "ferry ride",
                       "night market"),
            "weather": ("aandhi toofan", "pehli baarish", "ye garmi", "office jaate hue baarish", "sunset", "dhund"),
            "family": ("didi ki shaadi", "school ka function", "Sunday lunch mummy papa ke saath",
                       "bhatije ka birthday", "family game night", "naya puppy"),
            "tech": ("phone ka naya update", "mera home server", "coding bootcamp", "naya laptop", "sasta smartwatch",
                     "open source meetup"),
            "politics": ("ward sabha meeting", "cycle track pe vote", "library ka budget", "candidates ki debate",
                         "park ke liye petition", "PTA meeting"),
        },
        "lines": {
            "food": ("आज दोस्तों के लिए खाना बना रहा हूँ।", "रेसिपी कमेंट में है।"),
            "sport": ("दूसरे हाफ में क्या वापसी की!", "अगले महीने की दौड़ के लिए तैयारी चल रही है।"),
            "music": ("पूरा हफ्ता यही गाना सुन रहा हूँ।", "लोगों ने हर गाना साथ में गाया।"),
            "travel": ("सामान की लिस्ट सफर से लंबी है।", "ट्रेक का नज़ारा कमाल था।"),
            "weather": ("फिर से छाता भूल गया।", "टहलने के लिए बढ़िया मौसम।"),
            "family": ("इस छोटी पर बहुत गर्व है।", "दादाजी अब भी शतरंज में सबको हराते हैं।"),
            "tech": ("बैटरी आखिरकार चलती है।", "पूरी शाम डिबगिंग की, पर मज़ा आया।"),
            "politics": ("फैसला करने से पहले घोषणापत्र पढ़ें।", "मोहल्ला सभा में अच्छी भागीदारी रही।"),
        },
        "cta": ("Abhi order karein.", "Aaj hi khareedein, free delivery.", "Website pe aur jaaniye."),
        "openers": ("Toh,", "Dosto,", "Update:", "Arre,", "Wah.", "Jaldi se:", "Pata nahi tumhara, par", "Suno,",
                    "Sach mein,", "Yaar,"),
        "closers": ("Agli baar phir chalenge.", "Full recommend karta hoon.", "Kaun kaun aa raha hai?",
                    "Tum log kya sochte ho?", "Abhi tak smile hai.", "Ab neend chahiye.",
                    "Us dost ko tag karo jisko chahiye.", "Photos baad mein.", "Hafte ka best part.",
                    "Kal se wahi routine."),
        "fillers": ("sach mein", "yaar", "bilkul"),
        "accent": "Café wali chai, très bon — naïve résumé.",
    },
    "it": {
        "templates": ("{n} {t}: {x}!", "Ho ancora in testa {n}.", "Chi altro ama {n}?", "Finalmente provato {n}: {x}!",
                      "Sinceramente, {n} {t}: {x}.", "Chi viene? {n} {t}!", "Un ricordo: {n}, sempre {x}.",
                      "{n} mi ha svoltato la giornata."),
        "evals": ("pazzesco", "top", "fantastico", "meglio del previsto", "niente male", "così così", "il massimo",
                  "da rifare"),
        "times": ("oggi", "ieri sera", "questo weekend", "ieri", "stamattina", "stasera"),
        "nouns": {
            "food": ("il nuovo ramen in centro", "la lasagna della nonna", "il pane con lievito madre",
                     "la pizzeria sotto casa", "il mercato del sabato", "il tiramisù fatto in casa"),
            "sport": ("il derby", "la maratona", "la partita di calcetto", "la finale di campionato",
                      "la corsa del mattino", "la partita di tennis"),
            "music": ("il nuovo album", "il concerto al club", "il programma del festival", "la lezione di chitarra",
                      "la serata jazz", "questa playlist"),
            "travel": ("il viaggio in macchina", "il treno per il mare", "il weekend in montagna", "il centro storico",
                       "il traghetto", "il mercato notturno"),
            "weather": ("il temporale", "la prima neve", "quest'ondata di caldo", "la pioggia andando al lavoro",
                        "il tramonto", "la nebbia"),
            "family": ("il matrimonio di mia sorella", "la recita della scuola", "il pranzo della domenica dai miei",
                       "il compleanno di mio nipote", "la serata giochi in famiglia", "il cucciolo nuovo"),
            "tech": ("l'aggiornamento del telefono", "il mio server di casa", "il bootcamp di programmazione",
                     "il portatile nuovo", "questo smartwatch economico", "il meetup open source"),
            "politics": ("il consiglio comunale", "il voto sulle piste ciclabili", "il bilancio della biblioteca",
                         "il dibattito tra i candidati", "la petizione per il parco",
                         "la riunione del consiglio d'istituto"),
        },
        "lines": {
            "food": ("Stasera cucino per gli amici, incrociate le dita.",
                     "Ricetta nei commenti se a qualcuno interessa."),
            "sport": ("Che rimonta nel secondo tempo!", "Mi alleno per la 10 km del mese prossimo."),
            "music": ("In loop tutta la settimana.", "Il pubblico ha cantato ogni canzone."),
            "travel": ("La lista dei bagagli è più lunga del viaggio ahah.",
                       "Il panorama dell'escursione valeva ogni passo."),
            "weather": ("Ho dimenticato di nuovo l'ombrello.", "Tempo perfetto per una passeggiata."),
            "family": ("Orgogliosissima di questa piccola.", "Il nonno batte ancora tutti a scacchi."),
            "tech": ("Finalmente la batteria dura.", "Tutta la sera a fare debug, ne è valsa la pena."),
            "politics": ("Leggete i programmi prima di decidere.", "Bella partecipazione all'assemblea di quartiere."),
        },
        "cta": ("Acquista ora.", "Ordina oggi, reso gratuito.", "Scopri di più sul nostro sito."),
        "openers": ("Allora,", "Ragazzi,", "Aggiornamento:", "Wow.", "Al volo:", "Non so voi ma", "Avviso:",
                    "Sinceramente,", "Dai,", "Insomma,"),
        "closers": ("Non vedo l'ora di rifarlo.", "Consigliatissimo.", "Chi viene con me?", "Che ne pensate?",
                    "Ancora col sorriso.", "Ora mi serve un pisolino.", "Taggate chi ne ha bisogno.",
                    "Altre foto dopo.", "La parte migliore della settimana.", "Domani si torna alla realtà."),
        "fillers": ("davvero", "sul serio", "letteralmente"),
        "accent": "Caffè e città: perché è così, però è già là.",
    },
    "pl": {
        "templates": ("{n} {t} – {x}!", "Nie mogę przestać o tym myśleć: {n}.", "Ktoś jeszcze? {n} to mój faworyt.",
                      "W końcu spróbowałem: {n}. {x}!", "Szczerze: {n} {t} – {x}.", "Kto wpada? {n} {t}!",
                      "Wspomnienie: {n}, nadal {x}.", "{n} – poprawa humoru na cały dzień."),
        "evals": ("super", "rewelacja", "sztos", "lepiej niż myślałem", "całkiem spoko", "tak sobie", "mistrzostwo",
                  "ekstra"),
        "times": ("dzisiaj", "wczoraj wieczorem", "w ten weekend", "wczoraj", "dziś rano", "dziś wieczorem"),
        "nouns": {
            "food": ("nowa knajpa z ramenem", "lasagne babci", "domowy chleb na zakwasie", "pierogi od mamy",
                     "sobotni targ", "żurek w barze mlecznym"),
            "sport": ("derby", "maraton", "mecz koszykówki na osiedlu", "finał ligi", "mój poranny bieg",
                      "mecz tenisa"),
            "music": ("nowy album", "koncert w klubie", "line-up festiwalu", "lekcja gitary", "wieczór jazzowy",
                      "ta playlista"),
            "travel": ("wycieczka samochodem", "pociąg nad morze", "weekend w górach", "stare miasto", "rejs promem",
                       "nocny targ"),
            "weather": ("burza", "pierwszy śnieg", "ta fala upałów", "deszcz w drodze do pracy", "zachód słońca",
                        "mgła"),
            "family": ("ślub mojej siostry", "szkolne przedstawienie", "niedzielny obiad u rodziców",
                       "urodziny mojego siostrzeńca", "rodzinny wieczór gier", "nowy szczeniak"),
            "tech": ("nowa aktualizacja telefonu", "mój domowy serwer", "bootcamp programowania", "nowy laptop",
                     "tani smartwatch", "spotkanie open source"),
            "politics": ("sesja rady miasta", "głosowanie w sprawie ścieżek rowerowych", "budżet biblioteki",
                         "debata kandydatów", "petycja w sprawie parku", "zebranie rady rodziców"),
        },
        "lines": {
            "food": ("Dziś gotuję dla znajomych, trzymajcie kciuki.", "Przepis w komentarzu, jeśli ktoś chce."),
            "sport": ("Co za powrót w drugiej połowie!", "Trenuję do biegu na 10 km w przyszłym miesiącu."),
            "music": ("Leci w kółko cały tydzień.", "Publiczność śpiewała każdą piosenkę."),
            "travel": ("Lista rzeczy do spakowania dłuższa niż wyjazd haha.",
                       "Widok ze szlaku był wart każdego kroku."),
            "weather": ("Znowu zapomniałem parasola.", "Idealna pogoda na spacer."),
            "family": ("Jestem dumna z tej małej.", "Dziadek nadal wygrywa ze wszystkimi w szachy."),
            "tech": ("Bateria w końcu daje radę.", "Cały wieczór debugowania, ale było warto."),
            "politics": ("Przeczytajcie programy przed decyzją.", "Dobra frekwencja na spotkaniu mieszkańców."),
        },
        "cta": ("Kup teraz.", "Zamów dziś, darmowy zwrot.", "Więcej na naszej stronie."),
        "openers": ("No więc,", "Ludzie,", "Aktualizacja:", "Wow.", "Szybko:", "Nie wiem jak wy, ale", "Info:",
                    "Serio,", "Dobra,", "Słuchajcie,"),
        "closers": ("Nie mogę się doczekać następnego razu.", "Polecam w stu procentach.", "Kto idzie ze mną?",
                    "Co myślicie?", "Nadal się uśmiecham.", "Teraz potrzebuję drzemki.",
                    "Oznacz kogoś, kto tego potrzebuje.", "Więcej zdjęć później.", "Najlepsza część tygodnia.",
                    "Jutro powrót do rzeczywistości."),
        "fillers": ("naprawdę", "serio", "dosłownie"),
        "accent": "Żółć gęślą jaźń: zażółć gęślą jaźń, proszę.",
    },
    "nl": {
        "templates": ("{n} {t} was {x}.", "Ik blijf maar denken aan {n}.", "Wie is er ook fan van {n}?",
                      "Eindelijk {n} geprobeerd en het was {x}.", "Eerlijk is eerlijk, {n} {t} was {x}.",
                      "Wie gaat er mee naar {n} {t}?", "Throwback naar {n}, nog steeds {x}.",
                      "{n} maakte mijn dag goed."),
        "evals": ("geweldig", "top", "echt lekker", "beter dan verwacht", "prima", "een beetje overhyped", "super",
                  "fantastisch"),
        "times": ("vandaag", "gisteravond", "dit weekend", "gisteren", "vanochtend", "vanavond"),
        "nouns": {
            "food": ("de nieuwe ramenzaak", "oma's lasagne", "zelfgebakken zuurdesembrood",
                     "de frietkraam op de markt", "de zaterdagmarkt", "stamppot met worst"),
            "sport": ("de derby", "de marathon", "de basketbalwedstrijd in het park", "de bekerfinale",
                      "mijn ochtendrondje hardlopen", "de tenniswedstrijd"),
            "music": ("het nieuwe album", "het concert in de club", "de festival-line-up", "mijn gitaarles",
                      "de jazzavond", "deze playlist"),
            "travel": ("de roadtrip", "de trein naar de kust", "het weekend in de Ardennen", "de oude binnenstad",
                       "de overtocht met de veerboot", "de avondmarkt"),
            "weather": ("het onweer", "de eerste sneeuw", "deze hittegolf", "de regen op weg naar werk",
                        "de zonsondergang", "de mist"),
            "family": ("de bruiloft van mijn zus", "de schoolmusical", "het zondagse eten bij mijn ouders",
                       "de verjaardag van mijn neefje", "de spelletjesavond met de familie", "de nieuwe puppy"),
            "tech": ("de nieuwe telefoonupdate", "mijn thuisserver", "de programmeer-bootcamp", "de nieuwe laptop",
                     "dit goedkope smartwatchje", "de open-source meetup"),
            "politics": ("de gemeenteraadsvergadering", "de stemming over fietspaden", "het bibliotheekbudget",
                         "het debat tussen de kandidaten", "de petitie voor het park", "de ouderavond"),
        },
        "lines": {
            "food": ("Vanavond kook ik voor vrienden, duimen maar.", "Recept in de reacties als iemand het wil."),
            "sport": ("Wat een comeback in de tweede helft!", "Aan het trainen voor de 10 km volgende maand."),
            "music": ("Staat de hele week op repeat.", "Het publiek zong elk nummer mee."),
            "travel": ("De paklijst is langer dan de reis haha.", "Het uitzicht van de wandeling was elke stap waard."),
            "weather": ("Weer mijn paraplu vergeten.", "Perfect weer voor een wandeling."),
            "family": ("Zo trots op deze kleine.", "Opa wint nog steeds van iedereen met schaken."),
            "tech": ("De batterij houdt het eindelijk vol.", "Hele avond zitten debuggen, was het waard."),
            "politics": ("Lees de verkiezingsprogramma's voordat je kiest.", "Mooie opkomst bij de buurtbijeenkomst."),
        },
        "cta": ("Nu kopen.", "Bestel vandaag, gratis retour.", "Meer op onze website."),
        "openers": ("Oké,", "Jongens,", "Update:", "Wauw.", "Even snel:", "Weet niet hoe het met jullie zit, maar",
                    "Info:", "Eerlijk,", "Nou,", "Zeg,"),
        "closers": ("Ik kijk al uit naar de volgende keer.", "Echt een aanrader.", "Wie gaat er mee?",
                    "Wat vinden jullie?", "Nog steeds aan het glimlachen.", "Nu even een dutje.",
                    "Tag iemand die dit nodig heeft.", "Later meer foto's.", "Beste deel van de week.",
                    "Morgen weer terug naar de realiteit."),
        "fillers": ("echt", "serieus", "letterlijk"),
        "accent": "Café crème, één kopje: geëerd en geïnspireerd.",
    },
}

# --- text: policy phrasebooks ------------------------------------------------------------------------------
# Per policy and language: `phrases` (violating phrases; the pack lexicon holds those whose index i has
# i % 5 in {0, 2, 4}, i.e. ~60 %), `keywords` (short lexicon terms with low weights that also occur inside
# phrases), `frames` (typical co-occurring sentences, never in the lexicon: what a classifier can learn) and
# `confusers` (benign sentences that use lexicon terms harmlessly: counter-speech, hyperbole, homonyms).
# Text is deliberately non-graphic: these are test data for detectors.

_POLICY_TEXT: dict[str, dict[str, dict[str, tuple]]] = {
    "misinfo.medical": {
        "en": {
            "phrases": ("vaccines cause autism", "the jab rewrites your DNA", "covid was a plandemic",
                        "drink detox tea instead of chemo", "vaccines contain microchips", "garlic water cures cancer",
                        "hospitals are faking covid deaths", "ivermectin cures covid in 48 hours",
                        "the vaccine killed more people than the virus", "5g towers spread the virus"),
            "keywords": (("plandemic", 0.6), ("ivermectin", 0.35), ("detox", 0.25), ("5g towers", 0.35),
                         ("vaccines", 0.2)),
            "frames": ("Do your own research.", "They don't want you to know this.", "Share before they delete it!"),
            "confusers": ("Digital detox weekend: no phone, just hiking.",
                          "The vet gave our horse ivermectin for worms.",
                          "New 5g towers went up in our town, the internet is finally fast.",
                          "Took the kids for their vaccines today, all fine.",
                          "Fact check: the claim that vaccines cause autism was debunked years ago."),
        },
        "es": {
            "phrases": ("las vacunas causan autismo", "la vacuna te cambia el ADN", "el covid fue una plandemia",
                        "el dióxido de cloro cura el covid", "las vacunas llevan microchips",
                        "el agua con ajo cura el cáncer", "los hospitales inflan las muertes por covid"),
            "keywords": (("plandemia", 0.6), ("dióxido de cloro", 0.45), ("vacunas", 0.2)),
            "frames": ("Investiga por tu cuenta.", "¡Compártelo antes de que lo borren!"),
            "confusers": ("Las vacunas de los niños, hechas hoy, todo bien.",
                          "Verificado: que las vacunas causan autismo es falso.",
                          "En la planta usan dióxido de cloro para potabilizar el agua."),
        },
        "pt": {
            "phrases": ("vacina causa autismo", "a vacina altera seu DNA", "a covid foi uma plandemia",
                        "chá de boldo cura covid", "as vacinas têm microchip", "água com alho cura câncer",
                        "os hospitais inventam mortes por covid"),
            "keywords": (("plandemia", 0.6), ("microchip", 0.4), ("vacina", 0.2)),
            "frames": ("Pesquise por conta própria.", "Compartilhe antes que apaguem!"),
            "confusers": ("Levei as crianças pra tomar vacina hoje, tudo certo.",
                          "Checagem: é falso que vacina causa autismo.",
                          "O veterinário colocou o microchip no meu cachorro."),
        },
        "fr": {
            "phrases": ("les vaccins provoquent l'autisme", "le vaccin modifie ton ADN",
                        "le covid était une plandémie", "la tisane de thym guérit le covid",
                        "les vaccins contiennent des puces", "l'eau à l'ail guérit le cancer",
                        "les hôpitaux gonflent les morts du covid"),
            "keywords": (("plandémie", 0.6), ("puces", 0.3), ("vaccins", 0.2)),
            "frames": ("Renseignez-vous par vous-mêmes.", "Partagez avant que ce soit supprimé !"),
            "confusers": ("Le chien a des puces, direction le véto.",
                          "Vaccins des enfants faits ce matin, tout va bien.",
                          "Intox : l'idée que les vaccins provoquent l'autisme est fausse."),
        },
        "de": {
            "phrases": ("Impfungen verursachen Autismus", "die Impfung verändert deine DNA",
                        "Corona war eine Plandemie", "Chlordioxid heilt Corona", "in den Impfstoffen sind Mikrochips",
                        "Knoblauchwasser heilt Krebs", "die Krankenhäuser fälschen Corona-Tote"),
            "keywords": (("Plandemie", 0.6), ("Chlordioxid", 0.4), ("Impfungen", 0.2)),
            "frames": ("Informiert euch selbst!", "Teilen, bevor es gelöscht wird!"),
            "confusers": ("Impfungen für die Kinder heute erledigt, alles gut.",
                          "Faktencheck: dass Impfungen Autismus verursachen, ist widerlegt.",
                          "Im Wasserwerk wird Chlordioxid zur Desinfektion genutzt."),
        },
        "hi": {
            "phrases": ("vaccine se autism hota hai", "vaccine tumhara DNA badal deta hai", "covid ek plandemic tha",
                        "haldi wala doodh covid ka ilaaj hai", "vaccine mein microchip hai",
                        "lahsun ka paani cancer theek karta hai", "अस्पताल कोविड से मौतें झूठी गिन रहे हैं"),
            "keywords": (("plandemic", 0.6), ("microchip", 0.4), ("ilaaj", 0.15)),
            "frames": ("Khud research karo.", "Delete hone se pehle share karo!"),
            "confusers": ("Fact check: vaccine se autism hota hai wali baat jhooth hai.",
                          "Doctor ne ilaaj shuru kiya, ab behtar feel ho raha hai."),
        },
        "it": {
            "phrases": ("i vaccini causano l'autismo", "il vaccino modifica il DNA", "il covid era una plandemia",
                        "gli ospedali gonfiano i morti di covid", "l'acqua e aglio cura il cancro"),
            "keywords": (("plandemia", 0.6), ("vaccini", 0.2)),
            "frames": ("Informatevi da soli.", "Condividete prima che lo cancellino!"),
            "confusers": ("Vaccini dei bambini fatti oggi, tutto ok.",
                          "Bufala: che i vaccini causano l'autismo è falso."),
        },
        "pl": {
            "phrases": ("szczepionki powodują autyzm", "szczepionka zmienia twoje DNA", "covid to była plandemia",
                        "szpitale zawyżają zgony na covid", "woda z czosnkiem leczy raka"),
            "keywords": (("plandemia", 0.6), ("szczepionki", 0.2)),
            "frames": ("Poszukajcie sami.", "Udostępnij, zanim usuną!"),
            "confusers": ("Szczepionki dzieci zrobione dzisiaj, wszystko ok.",
                          "Fakt: to, że szczepionki powodują autyzm, to mit."),
        },
        "nl": {
            "phrases": ("vaccins veroorzaken autisme", "het vaccin verandert je DNA", "corona was een plandemie",
                        "ziekenhuizen overdrijven de coronadoden", "knoflookwater geneest kanker"),
            "keywords": (("plandemie", 0.6), ("vaccins", 0.2)),
            "frames": ("Doe je eigen onderzoek.", "Delen voordat het verwijderd wordt!"),
            "confusers": ("Vaccins van de kinderen vandaag gehaald, alles goed.",
                          "Factcheck: dat vaccins veroorzaken autisme is een fabel."),
        },
    },
    "civic.election_integrity": {
        "en": {
            "phrases": ("the election is rigged", "if you support the opposition, vote on wednesday",
                        "you can vote by text message", "mail-in ballots are being thrown away",
                        "voting machines flip votes", "polling stations are closed due to a security threat",
                        "dead people voted by the thousands", "you can vote twice if you use a different station",
                        "don't bother voting, the result is already decided", "the election was moved to next week"),
            "keywords": (("rigged", 0.4), ("vote by text", 0.6), ("voting machines", 0.3), ("ballots", 0.15)),
            "frames": ("Wake up, people.", "The media won't report this.", "Share before they delete it!"),
            "confusers": ("This claw machine is totally rigged lol.",
                          "Voting machines were tested in public today, observers welcome.",
                          "Reminder: you cannot vote by text, only in person or by mail.",
                          "Counting mail ballots takes time, results expected on Thursday."),
        },
        "es": {
            "phrases": ("las elecciones están amañadas", "si votas a la oposición, vota el lunes",
                        "puedes votar por SMS", "están tirando los votos por correo",
                        "las urnas vienen con votos ya marcados", "los muertos votaron a miles",
                        "no vayas a votar, ya está decidido"),
            "keywords": (("amañadas", 0.4), ("votar por SMS", 0.6)),
            "frames": ("¡Compártelo antes de que lo borren!", "Despierta, la prensa no lo cuenta."),
            "confusers": ("Las rifas de la feria están amañadas jaja.",
                          "Recuerda: no se puede votar por SMS, solo en persona o por correo."),
        },
        "pt": {
            "phrases": ("a eleição foi fraudada", "quem vota na oposição vota na segunda-feira",
                        "dá pra votar pelo WhatsApp", "estão jogando os votos fora",
                        "as urnas eletrônicas trocam os votos", "mortos votaram aos milhares",
                        "nem vá votar, já está decidido"),
            "keywords": (("fraudada", 0.4), ("urnas eletrônicas", 0.3), ("votar pelo WhatsApp", 0.6)),
            "frames": ("Compartilhe antes que apaguem!", "Acorda, a mídia não mostra isso."),
            "confusers": ("As urnas eletrônicas passaram no teste público de segurança hoje.",
                          "Aviso: não dá pra votar pelo WhatsApp, só na seção eleitoral.",
                          "Essa rifa da quermesse foi fraudada kkk."),
        },
        "fr": {
            "phrases": ("l'élection est truquée", "si vous votez pour l'opposition, votez lundi",
                        "on peut voter par SMS", "ils jettent les procurations",
                        "les machines à voter changent les votes", "des morts ont voté par milliers",
                        "inutile d'aller voter, tout est décidé"),
            "keywords": (("truquée", 0.4), ("voter par SMS", 0.6)),
            "frames": ("Partagez avant que ce soit supprimé !", "Réveillez-vous, les médias n'en parlent pas."),
            "confusers": ("Cette machine à pince est truquée mdr.",
                          "Rappel : on ne peut pas voter par SMS, seulement au bureau de vote."),
        },
        "de": {
            "phrases": ("die Wahl ist manipuliert", "Wähler der Opposition wählen am Montag",
                        "man kann per SMS wählen", "Briefwahlstimmen werden weggeworfen",
                        "die Wahlcomputer vertauschen Stimmen", "Tote haben tausendfach gewählt",
                        "geht gar nicht erst wählen, alles ist entschieden"),
            "keywords": (("manipuliert", 0.35), ("per SMS wählen", 0.6)),
            "frames": ("Teilen, bevor es gelöscht wird!", "Wacht auf, die Medien verschweigen es."),
            "confusers": ("Der Greifautomat ist total manipuliert haha.",
                          "Zur Info: Man kann nicht per SMS wählen, nur im Wahllokal oder per Briefwahl."),
        },
        "hi": {
            "phrases": ("chunav mein dhandhli hui hai", "opposition wale budhvar ko vote karein",
                        "SMS se vote kar sakte ho", "ballot box pehle se bhare hue hain", "EVM hack ho chuki hai",
                        "murde bhi vote daal rahe hain", "वोट डालने मत जाओ, सब पहले से तय है"),
            "keywords": (("dhandhli", 0.4), ("EVM hack", 0.5)),
            "frames": ("Delete hone se pehle share karo!", "Jaago, media ye nahi dikhayega."),
            "confusers": ("Cricket team selection mein dhandhli hui lol, mera dost bahar.",
                          "Fact check: EVM hack hone ka claim galat hai, Election Commission ne bataya."),
        },
        "it": {
            "phrases": ("le elezioni sono truccate", "chi vota l'opposizione vota lunedì", "si può votare via SMS",
                        "stanno buttando le schede", "i morti hanno votato a migliaia"),
            "keywords": (("truccate", 0.4), ("votare via SMS", 0.6)),
            "frames": ("Condividete prima che lo cancellino!", "Svegliatevi, i media tacciono."),
            "confusers": ("Le carte di mio fratello sono truccate, vince sempre ahah.",
                          "Attenzione: non si può votare via SMS, solo al seggio."),
        },
        "pl": {
            "phrases": ("wybory są sfałszowane", "wyborcy opozycji głosują w poniedziałek", "można głosować przez SMS",
                        "wyrzucają karty do głosowania", "zmarli głosowali tysiącami"),
            "keywords": (("sfałszowane", 0.4), ("głosować przez SMS", 0.6)),
            "frames": ("Udostępnij, zanim usuną!", "Obudźcie się, media milczą."),
            "confusers": ("To losowanie na festynie było sfałszowane haha.",
                          "Przypominam: nie można głosować przez SMS, tylko w lokalu wyborczym."),
        },
        "nl": {
            "phrases": ("de verkiezingen zijn doorgestoken kaart", "kiezers van de oppositie stemmen op maandag",
                        "je kunt stemmen via sms", "ze gooien de stembiljetten weg",
                        "overledenen hebben massaal gestemd"),
            "keywords": (("doorgestoken kaart", 0.4), ("stemmen via sms", 0.6)),
            "frames": ("Delen voordat het verwijderd wordt!", "Word wakker, de media zwijgen."),
            "confusers": ("Die loterij op de kermis was doorgestoken kaart haha.",
                          "Let op: je kunt niet stemmen via sms, alleen in het stemlokaal."),
        },
    },
    "hate.speech": {
        "en": {
            "phrases": ("those immigrants are vermin", "go back to where you came from", "they are subhuman",
                        "nobody would miss you, loser", "people like you are parasites", "I hate your kind",
                        "you're too ugly to be online", "get out of our country, you don't belong here",
                        "everyone report and mock this freak", "your religion is a disease"),
            "keywords": (("vermin", 0.5), ("subhuman", 0.6), ("parasites", 0.4), ("hate", 0.15), ("loser", 0.15),
                         ("freak", 0.2)),
            "frames": ("Sick of them.", "Say it louder for the people in the back."),
            "confusers": ("I hate Mondays so much.", "Pest control finally got rid of the vermin in the shed.",
                          "Calling people subhuman is never okay, please report it.",
                          "The loser of the quiz buys pizza.", "Parasites in the aquarium again, need a new filter.",
                          "Such a freak accident at practice, everyone is fine."),
        },
        "es": {
            "phrases": ("esos inmigrantes son una plaga", "vuélvete a tu país", "son infrahumanos",
                        "nadie te echaría de menos, perdedor", "la gente como tú es un parásito",
                        "odio a los de tu clase", "eres demasiado feo para estar aquí"),
            "keywords": (("plaga", 0.3), ("infrahumanos", 0.6), ("odio", 0.15)),
            "frames": ("Estoy harto de ellos.", "Aquí no pintan nada."),
            "confusers": ("Odio los lunes con toda mi alma.",
                          "Llamar infrahumanos a otros nunca está bien, denunciadlo.",
                          "Una plaga de mosquitos en el jardín, socorro."),
        },
        "pt": {
            "phrases": ("esses imigrantes são uma praga", "volta pro seu país", "eles são sub-humanos",
                        "ninguém sentiria sua falta, perdedor", "gente como você é parasita", "odeio gente da sua laia",
                        "você é feio demais pra estar aqui"),
            "keywords": (("praga", 0.3), ("sub-humanos", 0.6), ("odeio", 0.15)),
            "frames": ("Tô cansado deles.", "Aqui não é lugar pra eles."),
            "confusers": ("Odeio segunda-feira.", "Uma praga de formigas na cozinha de novo.",
                          "Chamar alguém de sub-humanos é inaceitável, denunciem."),
        },
        "fr": {
            "phrases": ("ces immigrés sont de la vermine", "retourne dans ton pays", "ce sont des sous-hommes",
                        "personne ne te regretterait, minable", "les gens comme toi sont des parasites",
                        "je hais ton espèce", "t'es trop moche pour être ici"),
            "keywords": (("vermine", 0.5), ("sous-hommes", 0.6), ("parasites", 0.4)),
            "frames": ("J'en ai marre d'eux.", "Ils n'ont rien à faire ici."),
            "confusers": ("Le chat a ramené de la vermine dans le grenier.",
                          "Traiter les gens de sous-hommes, c'est inacceptable, signalez-le.",
                          "Des parasites dans l'aquarium, il faut changer le filtre."),
        },
        "de": {
            "phrases": ("diese Migranten sind Ungeziefer", "geh zurück, wo du herkommst", "das sind Untermenschen",
                        "niemand würde dich vermissen, du Versager", "Leute wie du sind Parasiten",
                        "ich hasse euresgleichen", "du bist zu hässlich fürs Internet"),
            "keywords": (("Ungeziefer", 0.5), ("Untermenschen", 0.7), ("Versager", 0.15)),
            "frames": ("Ich hab die so satt.", "Die haben hier nichts verloren."),
            "confusers": ("Der Kammerjäger hat das Ungeziefer im Keller beseitigt.",
                          "Menschen als Untermenschen zu bezeichnen ist nie okay, bitte melden.",
                          "Der Versager des Quizabends zahlt die Pizza."),
        },
        "hi": {
            "phrases": ("ye log keede makode hain", "apne desh wapas jao", "ye insaan hi nahi hain",
                        "tujhe koi miss nahi karega, loser", "tere jaise log parasite hain",
                        "mujhe teri jaat se nafrat hai", "तू यहाँ रहने लायक नहीं है"),
            "keywords": (("keede makode", 0.5), ("nafrat", 0.15), ("loser", 0.15)),
            "frames": ("In logon se tang aa gaya hoon.", "Inki yahan koi jagah nahi."),
            "confusers": ("Baarish ke baad ghar mein keede makode aa gaye.", "Mujhe traffic se nafrat hai yaar."),
        },
        "it": {
            "phrases": ("questi immigrati sono parassiti", "tornatene al tuo paese", "sono subumani",
                        "nessuno sentirebbe la tua mancanza, sfigato", "odio quelli come te"),
            "keywords": (("parassiti", 0.4), ("subumani", 0.6), ("odio", 0.15)),
            "frames": ("Sono stufo di loro.", "Qui non c'è posto per loro."),
            "confusers": ("Odio la sveglia del lunedì.", "Parassiti nell'orto, devo trattare i pomodori."),
        },
        "pl": {
            "phrases": ("ci imigranci to robactwo", "wracaj do swojego kraju", "to są podludzie",
                        "nikt by za tobą nie tęsknił, frajerze", "nienawidzę takich jak ty"),
            "keywords": (("robactwo", 0.5), ("podludzie", 0.6), ("nienawidzę", 0.15)),
            "frames": ("Mam ich dość.", "Nie ma tu dla nich miejsca."),
            "confusers": ("Nienawidzę poniedziałków.", "W piwnicy jakieś robactwo, trzeba wezwać fachowca."),
        },
        "nl": {
            "phrases": ("die migranten zijn ongedierte", "ga terug naar je eigen land",
                        "het zijn minderwaardige wezens", "niemand zou je missen, loser", "ik haat jouw soort"),
            # not "haat": repeated-letter folding turns it into "hat", a common German word
            "keywords": (("ongedierte", 0.5), ("loser", 0.15)),
            "frames": ("Ik ben ze zo zat.", "Ze horen hier niet."),
            "confusers": ("De loser van de quiz trakteert op friet.",
                          "De ongediertebestrijder heeft het ongedierte in de schuur aangepakt."),
        },
    },
    "violent_extremism": {
        "en": {
            "phrases": ("join the armed struggle", "our martyrs showed the way", "death to the traitors",
                        "we will kill the traitors, the day is coming", "the attack was a glorious act",
                        "recruiting brothers for the cause, message me", "the shooter is a hero",
                        "take up arms against the government", "they deserve what is coming to them",
                        "pledge allegiance to the movement"),
            "keywords": (("armed struggle", 0.6), ("martyrs", 0.4), ("kill", 0.3), ("attack", 0.2)),
            "frames": ("The time for talking is over.", "Brothers, rise up."),
            "confusers": ("I could kill for a coffee right now.", "Panic attack before the exam but I made it.",
                          "Shark attack movie marathon tonight.",
                          "Remembering the martyrs of the 1914 mine disaster today."),
        },
        "es": {
            "phrases": ("únete a la lucha armada", "nuestros mártires marcaron el camino", "muerte a los traidores",
                        "vamos a matar a los traidores, el día llegará", "el atentado fue un acto glorioso",
                        "reclutamos hermanos para la causa", "el tirador es un héroe"),
            "keywords": (("lucha armada", 0.6), ("mártires", 0.4), ("matar", 0.3)),
            "frames": ("Se acabó el tiempo de hablar.", "Hermanos, levantaos."),
            "confusers": ("Este calor me va a matar jaja.", "Homenaje a los mártires de la mina de 1934."),
        },
        "pt": {
            "phrases": ("junte-se à luta armada", "nossos mártires mostraram o caminho", "morte aos traidores",
                        "vamos matar os traidores, o dia vai chegar", "o atentado foi um ato glorioso",
                        "recrutando irmãos para a causa", "o atirador é um herói"),
            "keywords": (("luta armada", 0.6), ("mártires", 0.4), ("matar", 0.3)),
            "frames": ("Acabou o tempo de conversar.", "Irmãos, levantem-se."),
            "confusers": ("Esse calor vai me matar kkk.", "A série sobre a luta armada nos anos 70 é ótima."),
        },
        "fr": {
            "phrases": ("rejoignez la lutte armée", "nos martyrs ont montré la voie", "mort aux traîtres",
                        "on va tuer les traîtres, le jour viendra", "l'attentat était un acte glorieux",
                        "on recrute des frères pour la cause", "le tireur est un héros"),
            "keywords": (("lutte armée", 0.6), ("martyrs", 0.4), ("tuer", 0.3)),
            "frames": ("Le temps des paroles est fini.", "Frères, levez-vous."),
            "confusers": ("Cette chaleur va me tuer mdr.", "Documentaire sur la lutte armée dans l'histoire ce soir."),
        },
        "de": {
            "phrases": ("schließt euch dem bewaffneten Kampf an", "unsere Märtyrer haben den Weg gezeigt",
                        "Tod den Verrätern", "wir werden die Verräter töten, der Tag wird kommen",
                        "der Anschlag war eine glorreiche Tat", "wir rekrutieren Brüder für die Sache",
                        "der Schütze ist ein Held"),
            "keywords": (("bewaffneten Kampf", 0.6), ("töten", 0.3), ("Anschlag", 0.25)),
            "frames": ("Die Zeit des Redens ist vorbei.", "Brüder, erhebt euch."),
            "confusers": ("Die Hitze wird mich noch töten haha.",
                          "Anschlag auf meinen Geldbeutel: die Stromrechnung ist da."),
        },
        "hi": {
            "phrases": ("hathiyar uthao aur ladai mein shamil ho", "hamare shaheedon ne raasta dikhaya",
                        "gaddaron ko maut", "hum gaddaron ko maar denge, din aayega", "hamla ek shandaar kaam tha",
                        "sangathan ke liye bhai log bharti ho", "हमलावर असली हीरो है"),
            "keywords": (("maar denge", 0.3), ("hamla", 0.2)),
            "frames": ("Baaton ka waqt khatam.", "Bhaiyon, utho."),
            "confusers": ("Exam mein top maar denge is baar!", "Machhar ka hamla phir se, neend kharab."),
        },
        "it": {
            "phrases": ("unisciti alla lotta armata", "i nostri martiri ci hanno indicato la via",
                        "morte ai traditori", "l'attentatore è un eroe", "li uccideremo tutti, il giorno arriverà"),
            "keywords": (("lotta armata", 0.6), ("martiri", 0.4)),
            "frames": ("Il tempo delle parole è finito.", "Fratelli, alzatevi."),
            "confusers": ("Documentario sulla lotta armata degli anni di piombo stasera.",
                          "Ricordo dei martiri della miniera, cerimonia in piazza."),
        },
        "pl": {
            "phrases": ("dołącz do walki zbrojnej", "nasi męczennicy wskazali drogę", "śmierć zdrajcom",
                        "zamachowiec to bohater", "zabijemy zdrajców, ten dzień nadejdzie"),
            "keywords": (("walki zbrojnej", 0.6), ("męczennicy", 0.4)),
            "frames": ("Czas gadania się skończył.", "Bracia, powstańcie."),
            "confusers": ("Wykład o historii walki zbrojnej w 1944 roku w muzeum.",
                          "Męczennicy z kopalni upamiętnieni dziś tablicą."),
        },
        "nl": {
            "phrases": ("sluit je aan bij de gewapende strijd", "onze martelaren wezen de weg",
                        "dood aan de verraders", "de schutter is een held",
                        "we gaan de verraders doden, de dag komt eraan"),
            "keywords": (("gewapende strijd", 0.6), ("doden", 0.3)),
            "frames": ("De tijd van praten is voorbij.", "Broeders, sta op."),
            "confusers": ("Docu over de gewapende strijd in de Tachtigjarige Oorlog vanavond.",
                          "Die hitte gaat me nog doden haha."),
        },
    },
    "self_harm": {
        "en": {
            "phrases": ("I don't want to be here anymore", "everyone would be better off without me",
                        "I want to end it all", "I've been planning how to say goodbye", "no reason to keep going",
                        "I can't do this anymore, I'm so tired of living", "I wish I could disappear forever",
                        "this is my last post", "I've started hurting myself again", "I'm a burden to everyone"),
            "keywords": (("end it all", 0.5), ("last post", 0.3), ("disappear", 0.15)),
            "frames": ("Sorry for everything.", "I'm just so tired."),
            "confusers": ("This is my last post from the beach, back to work tomorrow!",
                          "I want to disappear under a blanket in this weather.",
                          "Last post of the year, thanks for following!"),
        },
        "es": {
            "phrases": ("ya no quiero estar aquí", "todos estarían mejor sin mí", "quiero acabar con todo",
                        "estoy pensando cómo despedirme", "no tengo razones para seguir", "soy una carga para todos",
                        "ojalá pudiera desaparecer para siempre"),
            "keywords": (("acabar con todo", 0.5), ("desaparecer", 0.15)),
            "frames": ("Perdón por todo.", "Estoy muy cansado."),
            "confusers": ("Quiero desaparecer debajo de la manta con este frío.",
                          "Vamos a acabar con todo el pastel esta noche jaja."),
        },
        "pt": {
            "phrases": ("não quero mais estar aqui", "todo mundo ficaria melhor sem mim", "quero acabar com tudo",
                        "estou pensando em como me despedir", "não tenho motivo pra continuar",
                        "sou um peso pra todo mundo", "queria sumir pra sempre"),
            "keywords": (("acabar com tudo", 0.5), ("sumir", 0.15)),
            "frames": ("Desculpa por tudo.", "Tô muito cansado."),
            "confusers": ("Vamos acabar com tudo que sobrou da pizza kkk.",
                          "Queria sumir debaixo da coberta com esse frio."),
        },
        "fr": {
            "phrases": ("je ne veux plus être là", "tout le monde serait mieux sans moi", "je veux en finir",
                        "je réfléchis à comment dire adieu", "plus aucune raison de continuer",
                        "je suis un fardeau pour tout le monde", "j'aimerais disparaître pour toujours"),
            "keywords": (("en finir", 0.4), ("disparaître", 0.15)),
            "frames": ("Pardon pour tout.", "Je suis tellement fatigué."),
            "confusers": ("Vivement en finir avec ces examens !",
                          "J'aimerais disparaître sous la couette avec ce froid."),
        },
        "de": {
            "phrases": ("ich will nicht mehr hier sein", "alle wären ohne mich besser dran",
                        "ich will allem ein Ende setzen", "ich überlege, wie ich mich verabschiede",
                        "kein Grund mehr weiterzumachen", "ich bin für alle nur eine Last",
                        "ich wünschte, ich könnte für immer verschwinden"),
            "keywords": (("ein Ende setzen", 0.4), ("verschwinden", 0.15)),
            "frames": ("Tut mir leid für alles.", "Ich bin so müde."),
            "confusers": ("Wir sollten dem Chaos im Keller endlich ein Ende setzen.",
                          "Bei dem Wetter will ich unter der Decke verschwinden."),
        },
        "hi": {
            "phrases": ("ab yahan nahi rehna chahta", "mere bina sab khush rahenge", "sab khatam kar dena chahta hoon",
                        "sochta hoon sabko alvida kaise kahun", "jeene ki koi wajah nahi bachi",
                        "main sab par bojh hoon", "मैं हमेशा के लिए गायब होना चाहता हूँ"),
            "keywords": (("khatam kar dena", 0.4), ("alvida", 0.1)),
            "frames": ("Sab ke liye sorry.", "Bahut thak gaya hoon."),
            "confusers": ("Aaj ye pura project khatam kar dena hai, chai lao.", "Alvida 2025, welcome naya saal!"),
        },
        "it": {
            "phrases": ("non voglio più essere qui", "tutti starebbero meglio senza di me", "voglio farla finita",
                        "vorrei sparire per sempre", "sono un peso per tutti"),
            "keywords": (("farla finita", 0.4), ("sparire", 0.15)),
            "frames": ("Scusate per tutto.", "Sono così stanco."),
            "confusers": ("Voglio farla finita con questo trasloco, che fatica!",
                          "Con questo freddo vorrei sparire sotto le coperte."),
        },
        "pl": {
            "phrases": ("nie chcę już tu być", "wszystkim byłoby lepiej beze mnie", "chcę z tym wszystkim skończyć",
                        "chciałbym zniknąć na zawsze", "jestem dla wszystkich ciężarem"),
            "keywords": (("skończyć", 0.15), ("zniknąć", 0.15)),
            "frames": ("Przepraszam za wszystko.", "Jestem taki zmęczony."),
            "confusers": ("Muszę dziś skończyć ten raport, kawa proszę.", "Przy tej pogodzie chcę zniknąć pod kocem."),
        },
        "nl": {
            "phrases": ("ik wil hier niet meer zijn", "iedereen is beter af zonder mij",
                        "ik wil er een einde aan maken", "ik wou dat ik voor altijd kon verdwijnen",
                        "ik ben een last voor iedereen"),
            "keywords": (("einde", 0.1), ("verdwijnen", 0.15)),
            "frames": ("Sorry voor alles.", "Ik ben zo moe."),
            "confusers": ("Het einde van de serie was prachtig.", "Bij dit weer wil ik onder de deken verdwijnen."),
        },
    },
    "minor_safety": {
        "en": {
            "phrases": ("how old are you? don't tell your parents", "you seem really mature for your age",
                        "add me on snap, it's more private", "this is our little secret",
                        "are you home alone right now", "delete our chats so nobody sees",
                        "I'll send you a gift card if we video chat privately", "don't tell your parents about me",
                        "let's meet somewhere your mom won't know", "which school do you go to, what grade are you in"),
            "keywords": (("how old are you", 0.3), ("our little secret", 0.5), ("home alone", 0.25),
                         ("add me on snap", 0.3)),
            "frames": ("You can trust me.", "You're different from the other kids."),
            "confusers": ("How old are you in dog years? Take the quiz!", "Home alone movie night with popcorn.",
                          "Grandma's lasagna recipe is our little secret.",
                          "Add me on snap for behind-the-scenes cooking videos."),
        },
        "es": {
            "phrases": ("¿cuántos años tienes? no se lo digas a tus padres", "pareces muy madura para tu edad",
                        "agrégame en snap, es más privado", "esto es nuestro secreto", "¿estás sola en casa ahora?",
                        "borra nuestros chats para que nadie los vea",
                        "te regalo una tarjeta si hacemos videollamada a solas"),
            "keywords": (("cuántos años tienes", 0.3), ("nuestro secreto", 0.4), ("sola en casa", 0.25)),
            "frames": ("Puedes confiar en mí.", "Eres diferente a los demás niños."),
            "confusers": ("¿Cuántos años tienes en años de perro? Haz el test.",
                          "La receta de la abuela es nuestro secreto.", "Sola en casa con pelis y palomitas."),
        },
        "pt": {
            "phrases": ("quantos anos você tem? não conta pros seus pais", "você parece bem madura pra sua idade",
                        "me adiciona no snap, é mais privado", "isso é nosso segredinho",
                        "você tá sozinha em casa agora?", "apaga nossas conversas pra ninguém ver",
                        "te dou um vale-presente se a gente fizer chamada de vídeo escondido"),
            "keywords": (("quantos anos você tem", 0.3), ("nosso segredinho", 0.4), ("sozinha em casa", 0.25)),
            "frames": ("Pode confiar em mim.", "Você é diferente das outras crianças."),
            "confusers": ("Quantos anos você tem em anos de cachorro? Faz o teste.",
                          "A receita do bolo é nosso segredinho.", "Sozinha em casa com pipoca e filme."),
        },
        "fr": {
            "phrases": ("t'as quel âge ? ne dis rien à tes parents", "tu as l'air très mature pour ton âge",
                        "ajoute-moi sur snap, c'est plus privé", "c'est notre petit secret", "t'es seule chez toi là ?",
                        "efface nos messages pour que personne ne voie",
                        "je t'offre une carte cadeau si on fait un appel vidéo en privé"),
            "keywords": (("quel âge", 0.2), ("notre petit secret", 0.4), ("seule chez toi", 0.25)),
            "frames": ("Tu peux me faire confiance.", "T'es pas comme les autres enfants."),
            "confusers": ("Quel âge a ton chien en années humaines ?",
                          "La recette de mamie, c'est notre petit secret.",
                          "Seule chez toi ce soir ? Voici dix films à voir."),
        },
        "de": {
            "phrases": ("wie alt bist du? sag deinen Eltern nichts", "du bist echt reif für dein Alter",
                        "adde mich auf Snap, das ist privater", "das ist unser kleines Geheimnis",
                        "bist du gerade allein zu Hause?", "lösch unsere Chats, damit es keiner sieht",
                        "ich schenk dir eine Guthabenkarte, wenn wir heimlich videochatten"),
            "keywords": (("wie alt bist du", 0.3), ("unser kleines Geheimnis", 0.4), ("allein zu Hause", 0.25)),
            "frames": ("Du kannst mir vertrauen.", "Du bist anders als die anderen Kinder."),
            "confusers": ("Wie alt bist du in Hundejahren? Mach den Test.", "Omas Rezept ist unser kleines Geheimnis.",
                          "Allein zu Hause mit Pizza und Serien."),
        },
        "hi": {
            "phrases": ("kitne saal ki ho? mummy papa ko mat batana", "tum apni age se zyada samajhdar lagti ho",
                        "snap pe add karo, wahan private hai", "ye hamara chhota sa raaz hai",
                        "abhi ghar pe akeli ho kya?", "hamari chats delete kar do taaki koi na dekhe",
                        "video call karo toh gift card dunga"),
            "keywords": (("kitne saal ki ho", 0.3), ("ghar pe akeli", 0.25), ("raaz", 0.15)),
            "frames": ("Mujh pe bharosa karo.", "Tum baaki bachchon se alag ho."),
            "confusers": ("Quiz: tum dog years mein kitne saal ki ho?", "Mummy ki recipe ek raaz hai.",
                          "Aaj ghar pe akeli hoon, movie marathon!"),
        },
        "it": {
            "phrases": ("quanti anni hai? non dirlo ai tuoi genitori", "sembri molto matura per la tua età",
                        "aggiungimi su snap, è più privato", "è il nostro piccolo segreto",
                        "sei a casa da sola adesso?"),
            "keywords": (("quanti anni hai", 0.3), ("piccolo segreto", 0.4)),
            "frames": ("Puoi fidarti di me.", "Sei diversa dagli altri bambini."),
            "confusers": ("Quanti anni hai in anni di cane? Fai il test.",
                          "La ricetta della nonna è il nostro piccolo segreto."),
        },
        "pl": {
            "phrases": ("ile masz lat? nie mów rodzicom", "jesteś bardzo dojrzała jak na swój wiek",
                        "dodaj mnie na snapie, tam jest prywatniej", "to nasz mały sekret", "jesteś teraz sama w domu?"),
            "keywords": (("ile masz lat", 0.3), ("mały sekret", 0.4)),
            "frames": ("Możesz mi zaufać.", "Jesteś inna niż reszta dzieci."),
            "confusers": ("Ile masz lat w psich latach? Zrób test.", "Przepis babci to nasz mały sekret."),
        },
        "nl": {
            "phrases": ("hoe oud ben je? zeg niks tegen je ouders", "je lijkt heel volwassen voor je leeftijd",
                        "voeg me toe op snap, dat is privé", "dit is ons kleine geheimpje", "ben je nu alleen thuis?"),
            "keywords": (("hoe oud ben je", 0.3), ("alleen thuis", 0.25)),
            "frames": ("Je kunt me vertrouwen.", "Jij bent anders dan de andere kinderen."),
            "confusers": ("Hoe oud ben je in hondenjaren? Doe de test.", "Lekker alleen thuis met pizza en films."),
        },
    },
    "deceptive.spam": {
        "en": {
            "phrases": ("free followers, dm me now", "send 0.1 BTC and get 1 BTC back",
                        "click the link in bio to claim your prize", "your account will be suspended, verify here",
                        "crypto giveaway, double your coins today", "earn $500 a day from home",
                        "limited offer, only 3 spots left, message me", "cheap likes and views, fast delivery",
                        "login to confirm your payment details at this link",
                        "win a free iphone, just share and follow"),
            "keywords": (("free followers", 0.6), ("giveaway", 0.2), ("link in bio", 0.2), ("crypto", 0.15)),
            "frames": ("Hurry!!!", "100% legit, not a scam."),
            "confusers": ("Recipe link in bio for anyone who asked!",
                          "Library book giveaway this Saturday, bring a bag.",
                          "Crypto regulation debate at the council tonight."),
        },
        "es": {
            "phrases": ("seguidores gratis, escríbeme al privado", "envía 0,1 BTC y recibe 1 BTC",
                        "haz clic en el enlace de mi perfil para reclamar tu premio",
                        "tu cuenta será suspendida, verifícala aquí", "sorteo cripto, duplica tus monedas hoy",
                        "gana 500 euros al día desde casa", "oferta limitada, solo quedan 3 plazas"),
            "keywords": (("seguidores gratis", 0.6), ("sorteo", 0.2), ("enlace de mi perfil", 0.2)),
            "frames": ("¡Corre!", "100% real, no es estafa."),
            "confusers": ("La receta está en el enlace de mi perfil.", "Sorteo de libros en la biblioteca el sábado."),
        },
        "pt": {
            "phrases": ("seguidores grátis, chama no direct", "mande 0,1 BTC e receba 1 BTC",
                        "clique no link da bio pra resgatar seu prêmio", "sua conta será suspensa, verifique aqui",
                        "sorteio de cripto, dobre suas moedas hoje", "ganhe 500 reais por dia em casa",
                        "oferta limitada, só restam 3 vagas"),
            "keywords": (("seguidores grátis", 0.6), ("sorteio", 0.2), ("link da bio", 0.2)),
            "frames": ("Corre!", "100% confiável, não é golpe."),
            "confusers": ("Receita no link da bio pra quem pediu!", "Sorteio de livros na biblioteca no sábado."),
        },
        "fr": {
            "phrases": ("abonnés gratuits, écris-moi en privé", "envoie 0,1 BTC et reçois 1 BTC",
                        "clique sur le lien en bio pour réclamer ton cadeau",
                        "ton compte va être suspendu, vérifie ici", "concours crypto, double tes jetons aujourd'hui",
                        "gagne 500 euros par jour depuis chez toi", "offre limitée, plus que 3 places"),
            "keywords": (("abonnés gratuits", 0.6), ("lien en bio", 0.2), ("concours", 0.15)),
            "frames": ("Vite !!!", "100% fiable, pas une arnaque."),
            "confusers": ("Recette dans le lien en bio pour ceux qui ont demandé !",
                          "Concours de pétanque au village dimanche."),
        },
        "de": {
            "phrases": ("kostenlose Follower, schreib mir privat", "sende 0,1 BTC und erhalte 1 BTC zurück",
                        "klick auf den Link in der Bio, um deinen Gewinn abzuholen",
                        "dein Konto wird gesperrt, bestätige hier", "Krypto-Gewinnspiel, verdopple heute deine Coins",
                        "verdiene 500 Euro am Tag von zu Hause", "begrenztes Angebot, nur noch 3 Plätze frei"),
            "keywords": (("kostenlose Follower", 0.6), ("Gewinnspiel", 0.2), ("Link in der Bio", 0.2)),
            "frames": ("Schnell sein!!!", "100% seriös, kein Betrug."),
            "confusers": ("Rezept im Link in der Bio, für alle, die gefragt haben!",
                          "Gewinnspiel der Stadtbibliothek: Lesezeichen basteln."),
        },
        "hi": {
            "phrases": ("free followers chahiye toh DM karo", "0.1 BTC bhejo aur 1 BTC wapas pao",
                        "bio wale link pe click karke inaam lo", "aapka account band ho jayega, yahan verify karein",
                        "crypto giveaway, aaj coins double karo", "ghar baithe roz 5000 rupaye kamao",
                        "limited offer, sirf 3 seats bachi hain"),
            "keywords": (("free followers", 0.6), ("giveaway", 0.2), ("ghar baithe", 0.2)),
            "frames": ("Jaldi karo!!!", "100% genuine, fraud nahi hai."),
            "confusers": ("Ghar baithe yoga seekho, free class YouTube pe.",
                          "Mohalle mein book giveaway hai Sunday ko."),
        },
        "it": {
            "phrases": ("follower gratis, scrivimi in privato", "invia 0,1 BTC e ricevi 1 BTC",
                        "clicca il link in bio per ritirare il premio", "il tuo account sarà sospeso, verifica qui",
                        "guadagna 500 euro al giorno da casa"),
            "keywords": (("follower gratis", 0.6), ("link in bio", 0.2)),
            "frames": ("Sbrigati!!!", "100% affidabile, non è una truffa."),
            "confusers": ("Ricetta al link in bio per chi l'ha chiesta!",),
        },
        "pl": {
            "phrases": ("darmowi obserwujący, napisz na priv", "wyślij 0,1 BTC i odbierz 1 BTC",
                        "kliknij link w bio, żeby odebrać nagrodę", "twoje konto zostanie zawieszone, zweryfikuj tutaj",
                        "zarabiaj 500 zł dziennie w domu"),
            "keywords": (("darmowi obserwujący", 0.6), ("link w bio", 0.2)),
            "frames": ("Szybko!!!", "100% legalne, to nie oszustwo."),
            "confusers": ("Link w bio do przepisu, dla chętnych!",),
        },
        "nl": {
            "phrases": ("gratis volgers, stuur me een dm", "stuur 0,1 BTC en krijg 1 BTC terug",
                        "klik op de link in bio om je prijs te claimen", "je account wordt geblokkeerd, verifieer hier",
                        "verdien 500 euro per dag vanuit huis"),
            "keywords": (("gratis volgers", 0.6), ("link in bio", 0.2)),
            "frames": ("Snel zijn!!!", "100% betrouwbaar, geen oplichting."),
            "confusers": ("Recept via de link in bio voor wie erom vroeg!",),
        },
    },
}
TEXT_POLICIES: tuple[str, ...] = tuple(p for p in POLICY_IDS if p in _POLICY_TEXT)
# Policies detected from metadata or clustering, not words: no lexicon file.
NON_LEXICON_POLICIES: tuple[str, ...] = tuple(p for p in POLICY_IDS if p not in _POLICY_TEXT)
_PHRASE_WEIGHT = {
    "deceptive.spam": 0.85,
    "self_harm": 0.85,
}

# Coordinated campaigns: astroturfing templates ({s} = the promoted name), free of any lexicon term.
_CAMPAIGNS: dict[str, tuple[str, ...]] = {
    "en": ("Honestly {s} is the only candidate who listens to working families in this city, everyone I know is voting for them this time",
           "Just switched to {s} and my energy bills dropped by half, cannot believe more people are not talking about this amazing company",
           "Tired of the mainstream media ignoring {s} and the incredible work they do for our community every single day"),
    "es": ("La verdad es que {s} es la única persona candidata que escucha a las familias trabajadoras de esta ciudad, todos mis conocidos la votan",
           "Me cambié a {s} y mi factura de luz bajó a la mitad, no entiendo cómo no habla más gente de esta compañía increíble",
           "Harto de que los medios ignoren a {s} y todo el trabajo increíble que hace por nuestra comunidad cada día"),
    "pt": ("Sinceramente {s} é o único candidato que escuta as famílias trabalhadoras da nossa cidade, todo mundo que eu conheço vai votar nele",
           "Troquei para a {s} e minha conta de luz caiu pela metade, não sei como mais gente não fala dessa empresa incrível",
           "Cansado da grande mídia ignorando {s} e todo o trabalho incrível que faz pela nossa comunidade todos os dias"),
    "fr": ("Franchement {s} est le seul candidat qui écoute vraiment les familles qui travaillent dans notre ville, tout mon entourage va voter pour lui",
           "Je suis passé chez {s} et ma facture d'électricité a baissé de moitié, je ne comprends pas que personne n'en parle plus",
           "Marre que les grands médias ignorent {s} et tout le travail incroyable accompli pour notre quartier chaque jour"),
    "de": ("Ehrlich gesagt ist {s} der einzige Kandidat, der den arbeitenden Familien in unserer Stadt wirklich zuhört, alle meine Freunde wählen ihn diesmal",
           "Bin zu {s} gewechselt und meine Stromrechnung hat sich halbiert, verstehe nicht warum nicht mehr Leute über diese tolle Firma reden",
           "Ich habe es satt, dass die großen Medien {s} und die unglaubliche Arbeit für unsere Gemeinschaft jeden Tag ignorieren"),
    "hi": ("Sach kahun toh {s} hi ek aisa neta hai jo hamare shehar ke mehnatkash parivaron ki sunta hai, mere sab dost isi ko vote denge",
           "Maine {s} pe switch kiya aur bijli ka bill aadha ho gaya, samajh nahi aata log is kamaal ki company ke baare mein baat kyun nahi karte",
           "Bade media walon ka {s} ko ignore karna band karo, ye roz hamare mohalle ke liye itna achha kaam karte hain"),
    "it": ("Sinceramente {s} è l'unico candidato che ascolta davvero le famiglie che lavorano nella nostra città, tutti i miei amici lo votano",
           "Sono passato a {s} e la bolletta della luce si è dimezzata, non capisco perché non ne parli più gente di questa azienda fantastica"),
    "pl": ("Szczerze mówiąc {s} to jedyny kandydat, który naprawdę słucha pracujących rodzin w naszym mieście, wszyscy moi znajomi na niego głosują",
           "Przeszedłem do {s} i rachunek za prąd spadł o połowę, nie rozumiem czemu więcej ludzi nie mówi o tej świetnej firmie"),
    "nl": ("Eerlijk gezegd is {s} de enige kandidaat die echt luistert naar werkende gezinnen in onze stad, al mijn vrienden stemmen deze keer op hem",
           "Overgestapt naar {s} en mijn energierekening is gehalveerd, snap niet waarom niet meer mensen over dit geweldige bedrijf praten"),
}
_CAMPAIGN_NAMES = ("Maria Lenz", "Tom Adler", "GreenVolt", "Nordia Energy", "Sam Okafor", "BrightLeaf", "Ana Ruiz",
                   "Voltora", "Jan Kowal", "Lumen Power")
_CAMPAIGN_TAGS = ("#truth", "#switchnow", "#community", "#vote", "#realchange")
# fmt: on

_LEET = {"e": "3", "o": "0", "i": "1", "a": "@", "s": "$"}
_BAD_TIMESTAMPS = ("not-a-date", "{y}-13-45T25:00:00Z", "", "31/02/{y} 25:61", "yesterday")
_INVALID_ENUMS = (("item_type", "podcast"), ("region", "XX"), ("region", "usa"), ("language", "english"))

# --- parameters and summary ---------------------------------------------------------------------------------


class GeneratorParams(BaseModel):
    """Everything that shapes a synthetic day besides its date, size and seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    violation_rates: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_VIOLATION_RATES),
        description="Share of items violating each policy; missing policies take the default",
    )
    golden_share: float = Field(default=0.05, ge=0, le=1, description="share of violations kept as known-label golden items")
    dirty_share: float = Field(default=0.005, ge=0, le=0.5, description="Share of rows with one defect each")
    oversize_text: bool = Field(
        default=True, description="One >1M-char row per chunk (~1 MB each) when dirty_share > 0"
    )
    oversize_chars: int = Field(default=1_048_576, gt=1_000_000, le=16_000_000)
    ai_share: float = Field(default=0.02, ge=0, le=0.5, description="Items with AI provenance that ARE disclosed")
    ai_self_label_share: float = Field(default=0.004, ge=0, le=0.5, description="Disclosed AI items without provenance")
    confuser_ratio: float = Field(default=1.0, ge=0, le=10, description="Benign lexicon-confusers per violation")
    obfuscation_share: float = Field(default=0.25, ge=0, le=1, description="Violating phrases with obfuscation")
    campaign_size_min: int = Field(default=12, ge=10, description="Distinct young accounts per campaign (min)")
    campaign_size_max: int = Field(default=40, ge=10)
    campaign_window_minutes: float = Field(default=6.0, gt=0, le=30, description="A campaign posts within this span")
    campaign_max_account_age_days: int = Field(default=29, ge=0, le=29)
    cross_chunk_campaign: bool = Field(default=True, description="One campaign split over chunks 0 and 1")
    bridge_campaign_size: int = Field(default=14, ge=10, le=30, description="Split 7 + 7: only visible across chunks")
    n_authors: int = Field(default=1_000_000, ge=100, description="Author population (Zipf ranks)")
    zipf_exponent: float = Field(default=1.15, gt=1.0, le=3.0)
    zipf_offset: float = Field(default=30.0, ge=0)
    young_account_share: float = Field(default=0.03, ge=0, le=1, description="Authors younger than 30 days")
    region_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_REGION_WEIGHTS))
    window_hours: tuple[int, int] = Field(default=(0, 24), description="created_at within [start, end) hours UTC")

    @field_validator("violation_rates")
    @classmethod
    def _known_policies(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(POLICY_IDS))
        if unknown:
            raise ValueError(f"unknown policy ids {unknown}; known: {list(POLICY_IDS)}")
        bad = {k: r for k, r in v.items() if not 0 <= r <= 0.2}
        if bad:
            raise ValueError(f"violation rates must be within [0, 0.2]: {bad}")
        return {**DEFAULT_VIOLATION_RATES, **v}

    @field_validator("region_weights")
    @classmethod
    def _known_regions(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(REGION_LANGUAGES))
        if unknown:
            raise ValueError(f"no language mix for regions {unknown}; known: {sorted(REGION_LANGUAGES)}")
        if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("region weights must be non-negative with a positive sum")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> GeneratorParams:
        if self.campaign_size_max < self.campaign_size_min:
            raise ValueError("campaign_size_max must be >= campaign_size_min")
        start, end = self.window_hours
        if not 0 <= start < end <= 24:
            raise ValueError("window_hours must satisfy 0 <= start < end <= 24")
        if sum(self.violation_rates[p] for p in TEXT_POLICIES) > 0.5:
            raise ValueError("text-policy violation rates must sum to at most 0.5")
        return self


GOLDEN = pa.schema([pa.field("item_id", pa.string(), nullable=False), pa.field("policy_id", pa.string(), nullable=False),
                    pa.field("label", pa.string(), nullable=False)])  # fmt: skip


def golden_set(items: pa.Table, truth: pa.Table, dirty_codes: np.ndarray, *, seed: int, share: float) -> pa.Table:
    """Known-label item × policy pairs a policy team would curate: a share of the true violations and as many
    clean benign pairs (dirty rows are never golden, since ingest quarantines them)."""
    rng = np.random.default_rng(_mix(seed, 0x601D))
    t = truth.to_pandas()
    positives = t.sample(frac=share, random_state=int(rng.integers(1 << 31))) if len(t) else t
    ids = items["item_id"].to_numpy(zero_copy_only=False)
    clean = ids[(dirty_codes < 0) & pd.notna(ids)]
    violating = set(zip(t["item_id"], t["policy_id"], strict=True))
    n = len(positives)
    picks = rng.choice(clean, size=min(len(clean), 2 * n), replace=False) if n else np.array([], dtype=object)
    policies = rng.choice(np.array(POLICY_IDS, dtype=object), size=len(picks))
    negatives = [(i, p) for i, p in zip(picks, policies, strict=True) if (i, p) not in violating][:n]
    frame = pd.concat([positives[["item_id", "policy_id"]].assign(label="violating"),
                       pd.DataFrame(negatives, columns=["item_id", "policy_id"]).assign(label="benign")],
                      ignore_index=True)  # fmt: skip
    return pa.Table.from_pandas(frame, schema=GOLDEN, preserve_index=False)


class GenerateSummary(BaseModel):
    """What `write_synthetic_day` wrote: files, and counts of every planted problem."""

    day: date
    seed: int
    rows: int
    partitions: int
    item_files: list[str]
    truth_files: list[str]
    violations: dict[str, int]  # truth rows per policy
    violating_items: int
    dirty: dict[str, int]  # rows per DIRTY_KINDS kind
    campaigns: int
    campaign_items: int


# --- hashing helpers (per-row decisions that must be recomputable without generating a chunk) --------------

_U64 = (1 << 64) - 1
_SALT = {"dirty": 0xD1, "dup": 0xD2, "author": 0xA1, "campaign": 0xC1, "bridge": 0xB1, "pool": 0x9F}


def _splitmix_int(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _U64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _U64
    return x ^ (x >> 31)


def _mix(*parts: int) -> int:
    """A 64-bit key from integers (order-sensitive)."""
    x = 0x243F6A8885A308D3
    for p in parts:
        x = _splitmix_int(x ^ (p & _U64))
    return x


def _hash_rows(key: int, idx: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return splitmix64(idx.astype(np.uint64) + np.uint64(key))


def _unit(h: np.ndarray) -> np.ndarray:
    """uint64 hashes → uniform floats in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def item_id(day: date, chunk_index: int, row: int) -> str:
    """The deterministic id of row `row` of chunk `chunk_index` of `day` (unique across days and chunks)."""
    return f"{day:%Y%m%d}-{chunk_index:05d}-{row:07d}"


# --- dirty-row plan ---------------------------------------------------------------------------------------


def dirty_plan(day: date, n_rows: int, seed: int, chunk_index: int, params: GeneratorParams) -> np.ndarray:
    """Per row the index into DIRTY_KINDS of its defect, or -1: a pure hash of (seed, day, chunk, row).

    Row i's plan does not depend on n_rows (the first dirty row becomes the chunk's oversize row), so a
    chunk can tell which rows of the previous chunk are clean without generating it.
    """
    codes = np.full(n_rows, -1, dtype=np.int8)
    share = params.dirty_share
    if share <= 0 or n_rows == 0:
        return codes
    u = _unit(_hash_rows(_mix(seed, day.toordinal(), chunk_index, _SALT["dirty"]), np.arange(n_rows)))
    dirty = u < share
    codes[dirty] = np.minimum((u[dirty] / share * _HASHED_DIRTY_KINDS).astype(np.int8), _HASHED_DIRTY_KINDS - 1)
    if params.oversize_text and dirty.any():
        codes[int(np.argmax(dirty))] = _OVERSIZE
    return codes


def dirty_counts(codes: np.ndarray) -> dict[str, int]:
    """Rows per dirty kind from a `dirty_plan`."""
    counts = np.bincount(codes[codes >= 0].astype(np.int64), minlength=len(DIRTY_KINDS))
    return {k: int(c) for k, c in zip(DIRTY_KINDS, counts, strict=True)}


# --- phrasebook and lexicons ------------------------------------------------------------------------------


def _in_lexicon(i: int) -> bool:
    return i % 5 in (0, 2, 4)


def phrasebook(policy_id: str) -> dict[str, tuple[str, ...]]:
    """Every violating phrase the generator plants for a policy, per language."""
    return {lang: spec["phrases"] for lang, spec in _POLICY_TEXT[policy_id].items()}


def lexicon_terms(policy_id: str) -> list[tuple[str, float]]:
    """The pack lexicon for a policy: ~60 % of the phrasebook (weight 0.85-0.9) plus weak keywords, deduplicated."""
    weight = _PHRASE_WEIGHT.get(policy_id, 0.9)
    seen: dict[str, float] = {}
    for spec in _POLICY_TEXT[policy_id].values():
        for i, phrase in enumerate(spec["phrases"]):
            if _in_lexicon(i):
                seen.setdefault(phrase.lower(), weight)
        for term, w in spec["keywords"]:
            seen.setdefault(term.lower(), w)
    return list(seen.items())


def render_lexicon(policy_id: str) -> str:
    """The lexicon file text (`term<TAB>weight`, `#` comments), grouped by language."""
    weight = _PHRASE_WEIGHT.get(policy_id, 0.9)
    lines = [
        f"# Lexicon for {policy_id} (community-guidelines pack).",
        "# One term per line: term<TAB>weight, weight in (0, 1] = how strongly the term alone indicates a violation.",
        "# Terms are matched as whole words after normalisation (NFKC, casefold, leetspeak, repeated letters,",
        "# zero-width characters), so write them plainly. Short keywords have low weights: they also occur in",
        "# harmless posts (counter-speech, hyperbole, homonyms) and only add evidence.",
    ]
    seen: set[str] = set()
    for lang, spec in _POLICY_TEXT[policy_id].items():
        entries = [(p, weight) for i, p in enumerate(spec["phrases"]) if _in_lexicon(i)] + list(spec["keywords"])
        entries = [(t.lower(), w) for t, w in entries if t.lower() not in seen]
        if not entries:
            continue
        lines.append(f"# --- {lang} ---")
        for term, w in entries:
            seen.add(term)
            lines.append(f"{term}\t{w:g}")
    return "\n".join(lines) + "\n"


# --- text assembly ----------------------------------------------------------------------------------------

_BANK_SIZE = 512
_CAPITALISE = re.compile(r"(?<=[.!?] )\w")


@lru_cache(maxsize=1)
def _sentence_bank() -> np.ndarray:
    """Benign sentences as an object array [language, topic, k] (a fixed vocabulary, independent of seeds)."""
    bank = np.empty((len(LANGUAGES), len(TOPICS), _BANK_SIZE), dtype=object)
    r = random.Random(20261123)
    for li, lang in enumerate(LANGUAGES):
        spec = _BENIGN[lang]
        for ti, topic in enumerate(TOPICS):
            combos = sorted(
                {
                    t.format(n=n, t=tm, x=x)
                    for t in spec["templates"]
                    for n in spec["nouns"][topic]
                    for tm in spec["times"]
                    for x in spec["evals"]
                }
            )
            combos = [_CAPITALISE.sub(lambda m: m.group(0).upper(), s[0].upper() + s[1:]) for s in combos]
            r.shuffle(combos)
            lines = list(spec["lines"][topic])
            pool = combos[: _BANK_SIZE - 4 * len(lines)] + lines * 4  # ready-made lines are common
            r.shuffle(pool)
            bank[li, ti, :] = [pool[k % len(pool)] for k in range(_BANK_SIZE)]
    return bank


@lru_cache(maxsize=1)
def _handles() -> np.ndarray:
    """A fixed pool of plausible @-handles."""
    r = random.Random(7)
    syllables = ("ka", "lo", "mi", "ra", "ten", "zu", "bel", "dor", "vi", "sa", "ne", "tor", "li", "an", "jo", "ree",
                 "max", "pi", "ko", "su", "mar", "eli", "nox", "ari", "fin", "del", "oma", "ruk", "tia", "van")  # fmt: skip
    handles = set()
    while len(handles) < 4096:
        name = "".join(r.choice(syllables) for _ in range(r.randint(2, 3)))
        handles.add("@" + name + (r.choice(("", "_", ".")) + str(r.randint(1, 99)) if r.random() < 0.5 else ""))
    return np.array(sorted(handles), dtype=object)


def _obfuscate(phrase: str, r: random.Random) -> str:
    """One evasion trick: leetspeak, repeated letters, a zero-width space inside a word, or mixed case."""
    trick = r.randrange(4)
    if trick == 0:
        return "".join(_LEET[c] if c in _LEET and r.random() < 0.6 else c for c in phrase)
    if trick == 3:
        return "".join(c.upper() if r.random() < 0.5 else c.lower() for c in phrase)
    words = phrase.split(" ")
    candidates = [k for k, w in enumerate(words) if len(w) >= 3 and w.isalpha()]
    if not candidates:
        return phrase.upper()
    for k in r.sample(candidates, k=min(len(candidates), r.randint(1, 2))):
        w = words[k]
        pos = r.randrange(1, len(w))
        if trick == 1:
            words[k] = w[:pos] + w[pos - 1] * r.randint(2, 4) + w[pos:]
        else:
            words[k] = w[:pos] + "\u200b" + w[pos:]
    return " ".join(words)


def _sentence(phrase: str, r: random.Random) -> str:
    """A phrase as a sentence: capitalised (mostly) and punctuated."""
    if r.random() < 0.8 and phrase[:1].islower():
        phrase = phrase[0].upper() + phrase[1:]
    if phrase.endswith(("?", "!", ".")):
        return phrase
    return phrase + r.choice((".", "!", "!!", "...", ""))


def _compose(context: str, phrase: str, frame: str | None, r: random.Random) -> str:
    parts = [_sentence(phrase, r)]
    if frame:
        parts.append(frame)
    if r.random() < 0.6:
        parts.insert(r.randrange(len(parts) + 1), context)
    return " ".join(parts)


def _campaign_variant(base: str, lang: str, r: random.Random) -> str:
    """A near-duplicate: at most one token-level edit plus punctuation, case and emoji noise."""
    words = base.split(" ")
    edit = r.random()
    if edit < 0.25 and len(words) > 3:
        k = r.randrange(1, len(words) - 1)
        words[k], words[k + 1] = words[k + 1], words[k]
    elif edit < 0.5:
        words.insert(r.randrange(1, len(words)), r.choice(_BENIGN[lang]["fillers"]))
    elif edit < 0.65 and len(words) > 8:
        del words[r.randrange(1, len(words))]
    text = " ".join(words)
    if r.random() < 0.5:
        text = text.replace(",", r.choice(("", " -", "...")), 1)
    text += r.choice(("", ".", "!", "!!!", "...", " !!"))
    if r.random() < 0.25:
        text = text.upper() if r.random() < 0.2 else text[0].lower() + text[1:]
    if r.random() < 0.6:
        text += " " + "".join(r.choice(_EMOJI) for _ in range(r.randint(1, 3)))
    return text


def _mojibake(text: str, lang: str) -> str:
    """UTF-8 bytes read as cp1252 ("cafÃ©"): repairable with ``s.encode('cp1252').decode('utf-8')``."""
    for source in (text if not text.isascii() else f"{_BENIGN[lang]['accent']} {text}", _BENIGN["en"]["accent"]):
        try:
            broken = source.encode("utf-8").decode("cp1252")
        except UnicodeDecodeError:
            continue
        if broken != source and broken.encode("cp1252").decode("utf-8") == source:
            return broken
    raise AssertionError("unreachable: the English accent line always round-trips")


def _undecodable(text: str, r: random.Random) -> str:
    """Text whose original bytes were lost: non-ASCII characters and a few more become U+FFFD."""
    chars = ["\ufffd" if not c.isascii() else c for c in text]
    pos = r.randrange(len(chars) + 1)
    return "".join(chars[:pos]) + "\ufffd\ufffd" + "".join(chars[pos:])


# --- authors ----------------------------------------------------------------------------------------------


def _zipf_ranks(u: np.ndarray, params: GeneratorParams) -> np.ndarray:
    """Author ranks 0..n_authors-1 with P(rank r) ∝ (r + 1 + q)^-s (Zipf–Mandelbrot, inverse CDF)."""
    s, q, n = params.zipf_exponent, params.zipf_offset, params.n_authors
    a = 1.0 - s
    lo, hi = (1.0 + q) ** a, (n + 1.0 + q) ** a
    x = (lo + u * (hi - lo)) ** (1.0 / a) - q
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, n - 1)


def _language_table(regions: tuple[str, ...]) -> np.ndarray:
    """Cumulative language probabilities per region, shape [region, language]."""
    table = np.zeros((len(regions), len(LANGUAGES)))
    for ri, reg in enumerate(regions):
        for lang, w in REGION_LANGUAGES[reg].items():
            table[ri, LANGUAGES.index(lang)] = w
    table /= table.sum(axis=1, keepdims=True)
    return np.cumsum(table, axis=1)


def _authors(ranks: np.ndarray, seed: int, params: GeneratorParams, regions: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Stable per-author attributes (same author → same id, region, language, followers, age for a seed)."""
    uniq, inverse = np.unique(ranks, return_inverse=True)
    key = _mix(seed, _SALT["author"])
    h = [_hash_rows(_mix(key, salt), uniq) for salt in range(6)]
    u = [_unit(x) for x in h]
    weights = np.array([params.region_weights.get(r, 0.0) for r in regions])
    region = np.minimum(np.searchsorted(np.cumsum(weights) / weights.sum(), u[0], side="right"), len(regions) - 1)
    lang = np.minimum((u[1][:, None] > _language_table(regions)[region]).sum(axis=1), len(LANGUAGES) - 1)
    normal = np.sqrt(-2.0 * np.log1p(-u[2])) * np.cos(2 * np.pi * u[3])
    log_followers = 1.5 + 0.45 * np.log10(params.n_authors / (uniq + 1.0)) + 0.8 * normal
    followers = np.minimum(np.floor(10**log_followers), 3e8).astype(np.int64)
    young = u[4] < params.young_account_share
    old_age = 30 + np.floor(-np.log1p(-u[5]) * 900)
    age = np.where(young, np.floor(u[5] * 30), np.minimum(old_age, 6000)).astype(np.int32)
    age = np.where(uniq < 1000, np.maximum(age, 365), age)  # the most active accounts are established
    ids = np.array([f"u{x:012x}" for x in (h[0] >> np.uint64(16)).tolist()], dtype=object)
    return {
        "author_id": ids[inverse],
        "region": region[inverse],
        "language": lang[inverse],
        "followers": followers[inverse],
        "age": age[inverse],
    }


# --- campaigns --------------------------------------------------------------------------------------------


def _campaign(
    rng: np.random.Generator, campaign_id: str, size: int, key: int, params: GeneratorParams, regions: tuple[str, ...]
) -> dict[str, list]:
    """One coordinated campaign: `size` distinct young accounts posting variants of one template within minutes."""
    weights = np.array([params.region_weights.get(r, 0.0) for r in regions])
    region = int(rng.choice(len(regions), p=weights / weights.sum()))
    langs = REGION_LANGUAGES[regions[region]]
    lang = list(langs)[int(rng.choice(len(langs), p=np.array(list(langs.values())) / sum(langs.values())))]
    r = random.Random(int(rng.integers(0, 2**62)))
    name = r.choice(_CAMPAIGN_NAMES)
    base = r.choice(_CAMPAIGNS[lang]).format(s=name)
    tags = ["#" + name.replace(" ", "").lower(), r.choice(_CAMPAIGN_TAGS)]
    start_h, end_h = params.window_hours
    span_us = int(params.campaign_window_minutes * 60e6)
    start = int(
        rng.integers(start_h * 3_600_000_000, max(start_h * 3_600_000_000 + 1, end_h * 3_600_000_000 - span_us))
    )
    offsets = np.sort(rng.integers(0, span_us, size))
    members: dict[str, list] = {k: [] for k in ("text", "hashtags", "author_id", "age", "followers", "type", "us")}
    for m in range(size):
        text = _campaign_variant(base, lang, r)
        member_tags = [t for t in tags if r.random() < 0.7]
        if member_tags and r.random() < 0.6:
            text += " " + " ".join(member_tags)
        members["text"].append(text)
        members["hashtags"].append(member_tags)
        members["author_id"].append(f"u{_mix(key, m) >> 16:012x}")
        members["age"].append(r.randint(0, params.campaign_max_account_age_days))
        members["followers"].append(int(r.paretovariate(1.5) * 3) - 3)
        members["type"].append("comment" if r.random() < 0.6 else "text_post")
        members["us"].append(start + int(offsets[m]))
    members["campaign_id"] = [campaign_id] * size
    members["region"] = [region] * size
    members["language"] = [LANGUAGES.index(lang)] * size
    return members


def _campaigns_for_chunk(
    day: date,
    n_rows: int,
    seed: int,
    chunk_index: int,
    n_chunks: int,
    params: GeneratorParams,
    regions: tuple[str, ...],
) -> dict[str, list]:
    """This chunk's campaigns plus its half of the cross-chunk campaign (chunks 0 and 1 of a multi-chunk day)."""
    rate = params.violation_rates["deceptive.coordinated"]
    rng = np.random.default_rng([seed, day.toordinal(), chunk_index, _SALT["campaign"]])
    mean_size = (params.campaign_size_min + params.campaign_size_max) / 2
    n_campaigns = math.floor(rate * n_rows / mean_size + rng.random()) if n_rows >= 1000 else 0
    out: dict[str, list] = {}
    parts = []
    for k in range(n_campaigns):
        size = int(rng.integers(params.campaign_size_min, params.campaign_size_max + 1))
        cid = f"camp-{day:%Y%m%d}-{chunk_index:05d}-{k:02d}"
        parts.append(
            _campaign(rng, cid, size, _mix(seed, day.toordinal(), chunk_index, k, _SALT["campaign"]), params, regions)
        )
    if params.cross_chunk_campaign and rate > 0 and n_chunks >= 2 and chunk_index in (0, 1) and n_rows >= 1000:
        bridge_rng = np.random.default_rng([seed, day.toordinal(), _SALT["bridge"]])
        size = params.bridge_campaign_size
        cid = f"camp-{day:%Y%m%d}-bridge"
        whole = _campaign(bridge_rng, cid, size, _mix(seed, day.toordinal(), _SALT["bridge"]), params, regions)
        half = size // 2
        sl = slice(0, half) if chunk_index == 0 else slice(half, size)
        parts.append({k: v[sl] for k, v in whole.items()})
    for part in parts:
        for k, v in part.items():
            out.setdefault(k, []).extend(v)
    return out


# --- one chunk --------------------------------------------------------------------------------------------


KNOWN_MEDIA_POLICIES: tuple[str, ...] = ("violent_extremism", "minor_safety")


def known_media_hashes(policy_id: str, count: int = 24) -> list[int]:
    """The hash list entries of known violating media for a policy (stable across days and seeds)."""
    index = KNOWN_MEDIA_POLICIES.index(policy_id)
    return [_mix(0x5EED, 1000 + index, j) & ((1 << 64) - 1) for j in range(count)]


def render_hash_list(policy_id: str) -> str:
    """The pack's hash-list file for a policy: `hexhash<TAB>label` lines."""
    lines = [f"# Known {policy_id} media: 64-bit perceptual hashes (hex) and their list entry."]
    lines += [f"{h:016x}\t{policy_id}:{j:03d}" for j, h in enumerate(known_media_hashes(policy_id))]
    return "\n".join(lines) + "\n"


def generate_chunk(
    day: date, n_rows: int, seed: int, chunk_index: int, params: GeneratorParams, *, n_chunks: int = 1
) -> tuple[pa.Table, pa.Table]:
    """One chunk of a synthetic day → (raw items in RAW_ITEMS, ground truth in TRUTH); pure and deterministic.

    `n_chunks` (the day's chunk count) only decides whether chunks 0 and 1 share the cross-chunk campaign.
    A cross-chunk duplicate id assumes the previous chunk had at least `n_rows` rows (true for the writer).
    """
    if n_rows < 0 or seed < 0 or chunk_index < 0:
        raise ValueError("n_rows, seed and chunk_index must be non-negative")
    n = n_rows
    ordinal = day.toordinal()
    rng = np.random.default_rng([seed, ordinal, chunk_index])
    r = random.Random(int(rng.integers(0, 2**62)))
    regions = tuple(params.region_weights)
    prefix = f"{day:%Y%m%d}-{chunk_index:05d}-"
    ids = np.array([f"{prefix}{i:07d}" for i in range(n)], dtype=object)

    kinds = dirty_plan(day, n, seed, chunk_index, params)
    clean = kinds < 0

    # Authors (Zipf activity), item types, times, languages, topics.
    a = _authors(_zipf_ranks(rng.random(n), params), seed, params, regions)
    author_id, region_i, lang_i = a["author_id"], a["region"].astype(np.int64), a["language"].astype(np.int64)
    followers, age = a["followers"], a["age"]
    switch_en = rng.random(n) < 0.05
    lang_i = np.where(switch_en, LANGUAGES.index("en"), lang_i)
    type_p = np.array([_TYPE_P[t] for t in ITEM_TYPES])
    type_i = rng.choice(len(ITEM_TYPES), size=n, p=type_p / type_p.sum())
    start_h, end_h = params.window_hours
    t_us = rng.integers(start_h * 3_600_000_000, end_h * 3_600_000_000, n)
    topic_i = rng.integers(0, len(TOPICS), n)

    # Coordinated campaigns overwrite randomly placed clean rows.
    camp = _campaigns_for_chunk(day, n, seed, chunk_index, n_chunks, params, regions)
    n_camp = min(len(camp.get("text", [])), int(clean.sum()) // 5)
    camp_rows = np.sort(rng.choice(np.flatnonzero(clean), size=n_camp, replace=False)) if n_camp else np.array([], int)
    is_campaign = np.zeros(n, dtype=bool)
    is_campaign[camp_rows] = True
    if n_camp:
        author_id = author_id.copy()
        author_id[camp_rows] = camp["author_id"][:n_camp]
        age[camp_rows] = camp["age"][:n_camp]
        followers[camp_rows] = np.maximum(0, np.array(camp["followers"][:n_camp]))
        type_i[camp_rows] = [ITEM_TYPES.index(t) for t in camp["type"][:n_camp]]
        t_us[camp_rows] = camp["us"][:n_camp]
        region_i[camp_rows] = camp["region"][:n_camp]
        lang_i[camp_rows] = camp["language"][:n_camp]

    # Violations: at most one text policy per item; AI disclosure independently among media items.
    eligible = clean & ~is_campaign
    n_elig = max(1, int(eligible.sum()))
    rates = np.array([params.violation_rates[p] for p in TEXT_POLICIES]) * n / n_elig
    policy_i = np.searchsorted(np.cumsum(rates), rng.random(n), side="right")
    violating = eligible & (policy_i < len(TEXT_POLICIES))
    confuser_i = np.searchsorted(np.cumsum(rates * params.confuser_ratio), rng.random(n), side="right")
    confuser = eligible & ~violating & (confuser_i < len(TEXT_POLICIES))
    media = np.isin(type_i, [ITEM_TYPES.index(t) for t in _MEDIA_TYPES]) & eligible
    n_media = max(1, int(media.sum()))
    p_undisclosed = params.violation_rates["aigc.undisclosed"] * n / n_media
    p_disclosed = params.ai_share * n / n_media
    p_self = params.ai_self_label_share * n / n_media
    u_ai = rng.random(n)
    ai_undisclosed = media & (u_ai < p_undisclosed)
    ai_disclosed_prov = media & ~ai_undisclosed & (u_ai < p_undisclosed + p_disclosed)
    ai_self_label = media & (u_ai >= p_undisclosed + p_disclosed) & (u_ai < p_undisclosed + p_disclosed + p_self)

    # Benign text from the sentence bank (vectorised), per item type.
    bank = _sentence_bank()
    picks = rng.integers(0, _BANK_SIZE, (5, n))
    s = [bank[lang_i, topic_i, picks[k]] for k in range(5)]
    types = np.array(ITEM_TYPES, dtype=object)[type_i]
    n_sent = np.where(
        types == "text_post", rng.integers(1, 4, n), np.where(types == "comment", rng.integers(1, 3, n), 1)
    )
    text = s[0].copy()
    text[n_sent >= 2] = s[0][n_sent >= 2] + " " + s[1][n_sent >= 2]
    text[n_sent >= 3] = text[n_sent >= 3] + " " + s[2][n_sent >= 3]
    # Openers, closers and @-mentions vary the template skeletons, as real posts do.
    openers = np.array([_BENIGN[lang]["openers"] for lang in LANGUAGES], dtype=object)
    closers = np.array([_BENIGN[lang]["closers"] for lang in LANGUAGES], dtype=object)
    oc_pick, oc_u = rng.integers(0, openers.shape[1], (2, n)), rng.random((3, n))
    for i in np.flatnonzero(oc_u[0] < 0.35).tolist():
        opener, body = openers[lang_i[i], oc_pick[0, i]], text[i]
        if opener[-1] not in ".:" and LANGUAGES[lang_i[i]] != "de":
            body = body[0].lower() + body[1:]
        text[i] = f"{opener} {body}"
    ads = types == "ad"
    with_closer = (oc_u[1] < 0.4) & ~ads
    text[with_closer] = text[with_closer] + " " + closers[lang_i[with_closer], oc_pick[1, with_closer]]
    mention = oc_u[2] < 0.2
    handles = _handles()
    text[mention] = text[mention] + " " + handles[rng.integers(0, len(handles), int(mention.sum()))]
    if ads.any():
        cta = np.array([_BENIGN[lang]["cta"] for lang in LANGUAGES], dtype=object)
        text[ads] = text[ads] + " " + cta[lang_i[ads], rng.integers(0, 3, int(ads.sum()))]
    emoji = rng.random(n) < 0.12
    text[emoji] = text[emoji] + " " + np.array(_EMOJI, dtype=object)[rng.integers(0, len(_EMOJI), int(emoji.sum()))]
    spoken = (types == "video") | (types == "live")
    transcript = np.full(n, None, dtype=object)
    transcript[spoken] = s[2][spoken] + " " + s[3][spoken] + " " + s[4][spoken]
    with_ocr = (types == "image") & (rng.random(n) < 0.35)
    ocr_text = np.full(n, None, dtype=object)
    ocr_text[with_ocr] = s[4][with_ocr]

    # Hashtags: 0-3 topic tags, sometimes repeated in the text.
    n_tags = rng.choice(4, size=n, p=[0.45, 0.25, 0.2, 0.1])
    tag_pick = rng.integers(0, 4, (n, 3))
    tags_in_text = rng.random(n) < 0.4
    hashtags: list[list[str]] = [[] for _ in range(n)]
    for i in np.flatnonzero(n_tags).tolist():
        pool = _TOPIC_TAGS[TOPICS[topic_i[i]]]
        hashtags[i] = list(dict.fromkeys(pool[j] for j in tag_pick[i, : n_tags[i]]))
        if tags_in_text[i]:
            text[i] = f"{text[i]} {' '.join(hashtags[i])}"

    # Violating text: a policy phrase (round-robin through the phrasebook per language) in context.
    offsets: dict[tuple[int, int], int] = {}
    for i in np.flatnonzero(violating).tolist():
        policy = TEXT_POLICIES[policy_i[i]]
        lang = LANGUAGES[lang_i[i]]
        spec = _POLICY_TEXT[policy][lang]
        slot = (int(policy_i[i]), int(lang_i[i]))
        k = offsets.setdefault(slot, r.randrange(len(spec["phrases"])))
        offsets[slot] = k + 1
        phrase = spec["phrases"][k % len(spec["phrases"])]
        if r.random() < params.obfuscation_share:
            phrase = _obfuscate(phrase, r)
        frame = r.choice(spec["frames"]) if r.random() < 0.5 else None
        composed = _compose(str(s[1][i]), phrase, frame, r)
        kind = types[i]
        if kind in ("video", "live") and r.random() < 0.4:
            transcript[i] = f"{s[2][i]} {composed}"
        elif kind == "image" and r.random() < 0.4:
            ocr_text[i] = composed
        else:
            text[i] = composed
        tags = _POLICY_TAGS.get(policy)
        if tags and r.random() < 0.3:
            hashtags[i] = [*hashtags[i], r.choice(tags)]
    for i in np.flatnonzero(confuser).tolist():
        spec = _POLICY_TEXT[TEXT_POLICIES[confuser_i[i]]][LANGUAGES[lang_i[i]]]
        sentence = r.choice(spec["confusers"])
        text[i] = f"{sentence} {s[1][i]}" if r.random() < 0.5 else f"{s[1][i]} {sentence}"
    if n_camp:
        text[camp_rows] = camp["text"][:n_camp]
        transcript[camp_rows] = None
        ocr_text[camp_rows] = None
        for j, i in enumerate(camp_rows.tolist()):
            hashtags[i] = camp["hashtags"][j]

    # Media hashes (some viral re-uploads share a hash) and AI provenance.
    hashed = (types == "image") | (types == "video") | (ads & (rng.random(n) < 0.6))
    hashed &= ~is_campaign
    raw_hashes = rng.integers(0, np.iinfo(np.uint64).max, n, dtype=np.uint64, endpoint=True)
    viral = rng.random(n) < 0.03
    pool = [f"{_mix(seed, _SALT['pool'], j):016x}" for j in range(64)]
    pool_pick = rng.integers(0, len(pool), n)
    media_hash = np.full(n, None, dtype=object)
    for i in np.flatnonzero(hashed).tolist():
        media_hash[i] = pool[pool_pick[i]] if viral[i] else f"{int(raw_hashes[i]):016x}"
    # Half of the violent-extremism and minor-safety media are re-uploads of known material: a listed
    # hash with up to three bits flipped (what perceptual hashing of a re-encoded copy looks like).
    for p_index, policy in enumerate(TEXT_POLICIES):
        if policy not in KNOWN_MEDIA_POLICIES:
            continue
        rows = np.flatnonzero(hashed & violating & (policy_i == p_index) & (rng.random(n) < 0.5))
        known = known_media_hashes(policy)
        for i in rows.tolist():
            flips = sum(1 << int(b) for b in rng.choice(64, size=int(rng.integers(0, 4)), replace=False))
            media_hash[i] = f"{known[int(rng.integers(0, len(known)))] ^ flips:016x}"
    provenance = np.full(n, None, dtype=object)
    with_prov = ai_undisclosed | ai_disclosed_prov
    prov_pick = rng.integers(0, 12, n)
    for i in np.flatnonzero(with_prov).tolist():
        choices = _PROVENANCE[types[i]]
        provenance[i] = choices[prov_pick[i] % len(choices)]
    ai_disclosed = ai_disclosed_prov | ai_self_label

    # Reach and reports: heavy-tailed views; violating items draw many more reports, most still none.
    view_mult = np.array([_TYPE_VIEW_MULT[t] for t in ITEM_TYPES])[type_i]
    log_views = 1.5 + 0.6 * np.log1p(followers) + rng.normal(0.0, 1.5, n)
    views = np.minimum(np.exp(log_views) * view_mult, 2e9).astype(np.int64)
    rate_key = np.full(n, _REPORT_RATE["benign"])
    rate_key[confuser] = _REPORT_RATE["confuser"]
    text_rates = np.array([_REPORT_RATE[p] for p in TEXT_POLICIES])
    rate_key[violating] = text_rates[policy_i[violating]]
    rate_key[ai_undisclosed] = np.maximum(rate_key[ai_undisclosed], _REPORT_RATE["aigc.undisclosed"])
    rate_key[is_campaign] = _REPORT_RATE["deceptive.coordinated"]
    lam = np.minimum(rate_key * np.sqrt(views / 100.0) * rng.gamma(0.5, 2.0, n), 1e6)
    reports = rng.poisson(lam).astype(np.int64)
    report_reasons: list[list[str]] = [[] for _ in range(n)]
    for i in np.flatnonzero(reports).tolist():
        if violating[i]:
            wanted = REPORT_REASONS[TEXT_POLICIES[policy_i[i]]]
        elif ai_undisclosed[i]:
            wanted = REPORT_REASONS["aigc.undisclosed"]
        elif is_campaign[i]:
            wanted = REPORT_REASONS["deceptive.coordinated"]
        else:
            wanted = ()
        k = min(int(reports[i]), r.choice((1, 1, 2, 3)))
        picked = [r.choice(wanted) if wanted and r.random() < 0.85 else r.choice(_NOISE_REASONS) for _ in range(k)]
        report_reasons[i] = list(dict.fromkeys(picked))

    # Timestamps as ISO-8601 strings with a Z.
    stamps = np.datetime64(day.isoformat(), "us") + t_us.astype("timedelta64[us]")
    created_at = np.char.add(np.datetime_as_string(stamps, unit="us"), "Z").astype(object)
    item_type = types.copy()
    region = np.array(regions, dtype=object)[region_i]
    language = np.array(LANGUAGES, dtype=object)[lang_i]

    # Dirty rows: one defect each, applied last so nothing above depends on them.
    prev_clean: np.ndarray | None = None
    redelivered: list[tuple[int, int]] = []
    for i in np.flatnonzero(~clean).tolist():
        kind = DIRTY_KINDS[kinds[i]]
        if kind == "null_item_id":
            ids[i] = None
        elif kind == "duplicate_item_id":
            earlier = np.flatnonzero(clean[:i])
            cross = chunk_index > 0 and (r.random() < 0.5 or not len(earlier))
            if cross:
                if prev_clean is None:
                    prev_clean = np.flatnonzero(dirty_plan(day, n, seed, chunk_index - 1, params) < 0)
                ids[i] = item_id(day, chunk_index - 1, int(prev_clean[r.randrange(len(prev_clean))]))
            elif len(earlier):  # an at-least-once re-delivery: the whole earlier row again
                redelivered.append((i, int(earlier[r.randrange(len(earlier))])))
            else:  # first rows of chunk 0 only: re-deliver a later clean row instead
                later = np.flatnonzero(clean)
                if len(later):
                    redelivered.append((i, int(later[0])))
                else:
                    ids[i] = None
        elif kind == "bad_timestamp":
            created_at[i] = r.choice(_BAD_TIMESTAMPS).format(y=day.year)
        elif kind == "naive_timestamp":
            created_at[i] = str(stamps[i].astype("datetime64[s]")).replace("T", " ")
        elif kind == "invalid_enum":
            column, value = r.choice(_INVALID_ENUMS)
            {"item_type": item_type, "region": region, "language": language}[column][i] = value
        elif kind == "mojibake_text":
            text[i] = _mojibake(str(text[i]), str(language[i]))
        elif kind == "undecodable_text":
            text[i] = _undecodable(str(text[i]), r)
        elif kind == "negative_views":
            views[i] = -int(rng.integers(1, 10_000))
        elif kind == "oversize_text":
            unit = f"{text[i]} "
            text[i] = (unit * (params.oversize_chars // len(unit) + 1))[: params.oversize_chars]
    columns = (ids, item_type, author_id, created_at, region, language, text, transcript, ocr_text, media_hash,
               ai_disclosed, provenance, age, followers, views, reports)  # fmt: skip
    for i, j in redelivered:
        for column in columns:
            column[i] = column[j]
        hashtags[i], report_reasons[i] = list(hashtags[j]), list(report_reasons[j])

    items = pa.table(
        {
            "item_id": pa.array(ids, type=pa.string()),
            "source": pa.array([SOURCE_NAME] * n, type=pa.string()),
            "item_type": pa.array(item_type, type=pa.string()),
            "author_id": pa.array(author_id, type=pa.string()),
            "created_at": pa.array(created_at, type=pa.string()),
            "region": pa.array(region, type=pa.string()),
            "language": pa.array(language, type=pa.string()),
            "text": pa.array(text, type=pa.string()),
            "transcript": pa.array(transcript, type=pa.string()),
            "ocr_text": pa.array(ocr_text, type=pa.string()),
            "hashtags": pa.array(hashtags, type=pa.list_(pa.string())),
            "media_hash": pa.array(media_hash, type=pa.string()),
            "ai_disclosed": pa.array(ai_disclosed, type=pa.bool_()),
            "ai_provenance": pa.array(provenance, type=pa.string()),
            "author_account_age_days": pa.array(age, type=pa.int32()),
            "author_followers": pa.array(followers, type=pa.int64()),
            "views": pa.array(views, type=pa.int64()),
            "user_reports": pa.array(reports, type=pa.int64()),
            "report_reasons": pa.array(report_reasons, type=pa.list_(pa.string())),
        },
        schema=RAW_ITEMS,
    )
    return items, _truth(ids, violating, policy_i, ai_undisclosed, camp_rows, camp.get("campaign_id", []))


def _truth(
    ids: np.ndarray,
    violating: np.ndarray,
    policy_i: np.ndarray,
    ai_undisclosed: np.ndarray,
    camp_rows: np.ndarray,
    campaign_ids: list[str],
) -> pa.Table:
    """Ground truth rows (item, policy, campaign) ordered by row then policy."""
    rows = [np.flatnonzero(violating), np.flatnonzero(ai_undisclosed), camp_rows.astype(np.int64)]
    policies = [
        np.array(TEXT_POLICIES, dtype=object)[policy_i[rows[0]]],
        np.full(len(rows[1]), "aigc.undisclosed", dtype=object),
        np.full(len(rows[2]), "deceptive.coordinated", dtype=object),
    ]
    campaigns = [np.full(len(rows[0]), None, dtype=object), np.full(len(rows[1]), None, dtype=object),
                 np.array(campaign_ids[: len(rows[2])], dtype=object)]  # fmt: skip
    all_rows = np.concatenate(rows)
    policy = np.concatenate(policies)
    order = np.lexsort((np.array([POLICY_IDS.index(p) for p in policy], dtype=np.int64), all_rows))
    return pa.table(
        {
            "item_id": pa.array(ids[all_rows[order]] if len(all_rows) else [], type=pa.string()),
            "policy_id": pa.array(policy[order], type=pa.string()),
            "campaign_id": pa.array(np.concatenate(campaigns)[order], type=pa.string()),
        },
        schema=TRUTH,
    )


# --- writing a day ----------------------------------------------------------------------------------------


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write to a hidden temp file in the same directory, then rename over the target."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_synthetic_day(
    out_dir: Path,
    day: date,
    rows: int,
    seed: int,
    partition_rows: int = 100_000,
    params: GeneratorParams | None = None,
) -> GenerateSummary:
    """Write one day as `items/date=D/part-NNNNN.parquet` + `truth/date=D/part-NNNNN.parquet`, chunk by chunk.

    Memory is proportional to `partition_rows` (one chunk at a time); re-running with the same arguments
    rewrites byte-identical files and removes parts left over from a larger earlier run of the same day.
    """
    if rows < 0 or partition_rows < 1:
        raise ValueError("rows must be >= 0 and partition_rows >= 1")
    params = params or GeneratorParams()
    out_dir = Path(out_dir)
    n_chunks = max(1, math.ceil(rows / partition_rows))
    dirs = {name: out_dir / name / f"date={day.isoformat()}" for name in ("items", "truth", "golden")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    item_files, truth_files = [], []
    violations = dict.fromkeys(POLICY_IDS, 0)
    dirty = dict.fromkeys(DIRTY_KINDS, 0)
    violating_items = 0
    campaign_ids: set[str] = set()
    campaign_items = 0
    for c in range(n_chunks):
        n = min(partition_rows, rows - c * partition_rows)
        items, truth = generate_chunk(day, n, seed, c, params, n_chunks=n_chunks)
        name = f"part-{c:05d}.parquet"
        _write_atomic(items, dirs["items"] / name)
        _write_atomic(truth, dirs["truth"] / name)
        _write_atomic(golden_set(items, truth, dirty_plan(day, n, seed, c, params), seed=seed, share=params.golden_share),
                      dirs["golden"] / name)  # fmt: skip
        item_files.append(str(dirs["items"] / name))
        truth_files.append(str(dirs["truth"] / name))
        for policy, count in zip(
            *np.unique(truth["policy_id"].to_numpy(zero_copy_only=False), return_counts=True), strict=True
        ):
            violations[str(policy)] += int(count)
        violating_items += len(pc.unique(truth["item_id"]))
        camps = truth["campaign_id"].drop_null().to_pylist()
        campaign_ids.update(camps)
        campaign_items += len(camps)
        for kind, count in dirty_counts(dirty_plan(day, n, seed, c, params)).items():
            dirty[kind] += count
        del items, truth
    for d in dirs.values():  # parts beyond this run's count belong to an earlier, larger run
        for stale in d.glob("part-*.parquet"):
            if int(stale.stem.split("-")[1]) >= n_chunks:
                stale.unlink()
    return GenerateSummary(
        day=day,
        seed=seed,
        rows=rows,
        partitions=n_chunks,
        item_files=item_files,
        truth_files=truth_files,
        violations=violations,
        violating_items=violating_items,
        dirty=dirty,
        campaigns=len(campaign_ids),
        campaign_items=campaign_items,
    )
