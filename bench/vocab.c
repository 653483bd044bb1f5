/* The vocabulary of PROTOCOL.md 3.2: see vocab.h. */
#include "vocab.h"

const char *const source_name[S__N] = {
    [S_POLICE] = "police",       [S_COUNCIL] = "council-asb", [S_HOUSING] = "housing",
    [S_HEALTH] = "health-ae",    [S_IDVA] = "idva",           [S_CHILDREN] = "childrens-services",
    [S_PROBATION] = "probation", [S_YOUTH] = "youth-justice", [S_SCHOOL] = "school",
};

const char *const type_name[T__N] = {
    "asb.report",        "call",          "da.incident",        "arrest",
    "violence.incident", "hate.incident", "missing.episode",    "concern",
    "referral",          "case.update",   "case.review.request"};

const char *const type_person[T__N] = {"victim",  "caller",  "victim",   "subject",
                                       "victim",  "victim",  "subject",  "subject",
                                       "subject", "subject", "applicant"};

const char *const panel_name[P__N] = {
    "marac", "community-marac", "asb-case-review", "hate-crime", "iom", "sgv",
    "mace",  "tasking",         "channel",         "mappa"};

const enum source panel_owner[P__N] = {S_IDVA,  S_COUNCIL,  S_COUNCIL, S_POLICE, S_PROBATION,
                                       S_YOUTH, S_CHILDREN, S_COUNCIL, S_POLICE, S_PROBATION};

const char *const asb_cat[3] = {"personal", "nuisance", "environmental"};

const char *const call_cat[5] = {"asb", "domestic", "crime", "welfare", "other"};

const char *const risk_name[4] = {"", "standard", "medium", "high"};

const char *const weapon_name[4] = {"knife", "firearm", "other", "none"};

const char *const injury_name[4] = {"none", "minor", "serious", "fatal"};

const char *const strand_name[6] = {"race",       "religion",    "sexual_orientation",
                                    "disability", "transgender", "other"};

const char *const kind_name[7] = {"criminal_exploitation",
                                  "sexual_exploitation",
                                  "radicalisation",
                                  "mental_health",
                                  "rough_sleeping",
                                  "hoarding",
                                  "other"};

const char *const status_name[3] = {"open", "reviewed", "closed"};

const char *const offence_name[15] = {"burglary.residential",
                                      "burglary.business",
                                      "robbery",
                                      "vehicle.theft",
                                      "theft",
                                      "weapon.possession",
                                      "violence.injury",
                                      "violence.serious",
                                      "sexual",
                                      "drugs.supply",
                                      "drugs.possession",
                                      "criminal.damage",
                                      "arson",
                                      "public.order",
                                      "other"};

const char *const asb_summary[15] = {
    "Youths congregating in the stairwell, shouting and smoking cannabis",
    "Loud music from the neighbouring flat until 3am",
    "Neighbour banging on the walls and making threats when challenged",
    "Group of teenagers throwing stones at windows",
    "Motorbikes ridden across the park and footpaths",
    "Suspected drug dealing from a parked car most evenings",
    "Eggs thrown at the front door again",
    "Intimidation by a group outside the shop",
    "Fly-tipping behind the parade of shops",
    "Graffiti on the garages, some of it offensive",
    "Dog barking all night; owner abusive when approached",
    "Verbal abuse in the street by the neighbour's visitors",
    "Rubbish set alight in the bin store",
    "Caller says she is afraid to leave the flat after dark",
    "Repeated knocking on the door late at night, nobody there",
};

const char *const crr_summary[5] = {
    "Reported noise and intimidation from the flat above three times since the spring; "
    "nothing has changed and I want the case reviewed",
    "Harassment by neighbours for months, reported to the police, the council and my "
    "landlord; each says it is for someone else",
    "Youths gather outside my home every night; I have called many times and feel "
    "nobody is dealing with it",
    "Asks for an ASB case review: three reports in six months about threats and damage "
    "to the car, no outcome communicated",
    "On behalf of my mother, who is disabled: repeated abuse from neighbours, reported "
    "several times without action",
};

const char *const concern_summary[7] = {
    /* criminal_exploitation */ "Found with large amounts of cash and a second phone; "
                                "travelling to another town at night",
    /* sexual_exploitation */
    "Seen getting into cars with older males; gifts and a "
    "new phone not explained",
    /* radicalisation */
    "Sharing extremist material in class chats and expressing "
    "support for violence",
    /* mental_health */ "Low mood, not eating, talked of ending life",
    /* rough_sleeping */ "Sleeping in the car park stairwell for a week",
    /* hoarding */ "Flat full to the ceiling; fire risk reported by the landlord",
    /* other */ "Neighbour concerned: not seen for several days",
};

const char *const site_desc[8] = {"Stairwell of residential block",
                                  "Play park",
                                  "Shopping parade",
                                  "Multi-storey car park",
                                  "Underpass by the station",
                                  "Community centre",
                                  "Recreation ground",
                                  "Bus station"};

const char *const referral_reason[P__N] = {
    "IDVA referral: high risk on professional judgement, escalating coercive control",
    "Repeat ASB victim, vulnerable, living alone; housing officer concerned",
    "Victim asks for an ASB case review after repeated reports",
    "Household targeted repeatedly; family afraid to go out",
    "Prolific neighbourhood offender released on licence; consider for IOM",
    "Young person linked to a group involved in knife incidents",
    "Child missing repeatedly, suspected county lines involvement",
    "Problem location: repeated disorder around the parade",
    "Prevent referral: concerns about extremist views",
    "Risk of serious harm: MAPPA category 2 offender moving into the area",
};
