// Household cards (户卡): a printed QR code that signs a phone in to its household's one-click
// call page. A card's token is shown once, when it is issued; printing a village's sheet issues
// fresh cards for all its households and revokes the ones printed before.
import { request, http } from './http'
import type { LoginAnswer } from './auth'

export interface CardStatus {
  household_id: string
  active: boolean
  issued_at: string | null
  issued_by: string | null
  last_used_at: string | null
  revoked_at: string | null
}

export interface IssuedCard {
  token: string
  /** Relative: `/m/call?card=wwc_…`; prefix the site's origin when printing. */
  link: string
  card: CardStatus
}

export interface SheetCard {
  household_id: string
  household_code: string
  head_name: string
  address: string | null
  natural_village: { id: string; name: string; code: string | null } | null
  token: string
  link: string
}

export interface CardSheet {
  village: { id: string; name: string; code: string | null }
  town: { id: string; name: string }
  issued_at: string
  cards: SheetCard[]
}

/** The query parameter of the link a card's QR code holds. */
export const CARD_PARAM = 'card'
const CARD_RE = /^wwc_[A-Za-z0-9_-]{43}$/

/** Whether a string looks like a card token (the server decides whether it is one). */
export function looksLikeCard(token: string): boolean {
  return CARD_RE.test(token)
}

const cardUrl = (householdId: string) => `/api/v1/households/${encodeURIComponent(householdId)}/card`

export const cardsApi = {
  status: (householdId: string) => http.get<CardStatus>(cardUrl(householdId)),
  issue: (householdId: string) => http.post<IssuedCard>(cardUrl(householdId)),
  revoke: (householdId: string) => http.delete(cardUrl(householdId)),
  /** Issues fresh cards for every household of the admin village (revoking the old ones). */
  sheet: (adminVillageId: string) => http.post<CardSheet>(`/api/v1/admin-villages/${encodeURIComponent(adminVillageId)}/cards`),
  /** Card sign-in: the same answer and cookies as a password sign-in. 401 `invalid_card`. */
  signIn: (token: string) => request<LoginAnswer>('/api/v1/auth/card', { method: 'POST', body: { token }, skipAuthRedirect: true }),
}
