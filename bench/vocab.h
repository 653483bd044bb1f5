/* The vocabulary of PROTOCOL.md 3.2 as the event generators write it: the
 * types, the agencies that send them, the panels, every enum value and the
 * free text. One copy for csphub-gen (gen_*.c) and csphub-bench (corpus.c), so
 * the two cannot drift apart; the schemas in schemas/ are what both must
 * match (a value here that a schema lacks makes the hub refuse the event).
 * Plain C, nothing else: csphub-gen links it with libm only. */
#ifndef CSPH_BENCH_VOCAB_H
#define CSPH_BENCH_VOCAB_H

enum type { T_ASB, T_CALL, T_DA, T_ARREST, T_VIOL, T_HATE, T_MISSING, T_CONCERN, T_REFERRAL,
            T_CASEUPD, T_CRR, T__N };

enum source { S_POLICE, S_COUNCIL, S_HOUSING, S_HEALTH, S_IDVA, S_CHILDREN, S_PROBATION,
              S_YOUTH, S_SCHOOL, S__N };

extern const char *const type_name[T__N];
/* The person field every type's broken rows can break. */
extern const char *const type_person[T__N];

/* The agencies, as each names itself in 'source'. */
extern const char *const source_name[S__N];

enum panel { P_MARAC, P_CMARAC, P_ACR, P_HATE, P_IOM, P_SGV, P_MACE, P_TASKING, P_CHANNEL,
             P_MAPPA, P__N };
/* The first P_TASKING + 1 are the unrestricted panels of config/panels.yaml. */
extern const char *const panel_name[P__N];
/* Who keeps each panel's cases (case.update's source). */
extern const enum source panel_owner[P__N];

enum { CALL_ASB, CALL_DOMESTIC, CALL_CRIME, CALL_WELFARE, CALL_OTHER };
enum { RISK_NONE, RISK_STANDARD, RISK_MEDIUM, RISK_HIGH };
enum { W_KNIFE, W_FIREARM, W_OTHER, W_NONE };
enum { I_NONE, I_MINOR, I_SERIOUS, I_FATAL };
enum { K_CRIMINAL, K_SEXUAL, K_RADICAL, K_MENTAL, K_ROUGH, K_HOARD, K_OTHER };
enum { ST_OPEN, ST_REVIEWED, ST_CLOSED };
enum { O_BURG_RES, O_BURG_BUS, O_ROBBERY, O_VEHICLE, O_THEFT, O_WEAPON, O_VIOL_INJ, O_VIOL_SER,
       O_SEXUAL, O_DRUG_SUP, O_DRUG_POS, O_DAMAGE, O_ARSON, O_PUBLIC, O_OTHER };

extern const char *const asb_cat[3];
extern const char *const call_cat[5];
extern const char *const risk_name[4];
extern const char *const weapon_name[4];
extern const char *const injury_name[4];
extern const char *const strand_name[6];
extern const char *const kind_name[7];
extern const char *const status_name[3];
extern const char *const offence_name[15];
/* Free text, written the way case workers write it, never a name. None holds
 * a quote or a backslash: the printer writes them as they are. */
extern const char *const asb_summary[15];
extern const char *const crr_summary[5];
extern const char *const concern_summary[7];
extern const char *const site_desc[8];
extern const char *const referral_reason[P__N];

#endif
