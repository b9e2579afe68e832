import { describe, expect, it } from 'vitest'
import type { CaseDetail } from '@/api/cases'
import type { RoutingRuleDto } from '@/api/mediation'
import { disputeOfCase, disputeTypeOfCategory, handOverPrefill, handOverRefusal, moveRule, policyDaysProblem, previewRoute, sameSettings } from '@/utils/mediation'

/** The server's default rules (`six_in_one::DEFAULT_ROUTING_RULES`), in their order. */
const DEFAULTS: RoutingRuleDto[] = [
  { flag: 'party_member_or_cadre', office: 'discipline' },
  { flag: 'gang', office: 'police' },
  { flag: 'illegal_petitioning', office: 'police' },
  { flag: 'petition_letter', office: 'petitions' },
  { flag: 'backlog', office: 'petitions' },
  { flag: 'legal_aid', office: 'justice' },
  { flag: 'peoples_mediation', office: 'justice' },
  { flag: 'violence', office: 'police' },
  { flag: 'direct_acceptance', office: 'village' },
  { flag: 'watch', office: 'village' },
]

describe('deadline days', () => {
  it('takes whole numbers from 1 to 365, as the server does', () => {
    expect(policyDaysProblem(1)).toBeNull()
    expect(policyDaysProblem(365)).toBeNull()
    expect(policyDaysProblem('30')).toBeNull()
    expect(policyDaysProblem(0)).toBe('range')
    expect(policyDaysProblem(366)).toBe('range')
    expect(policyDaysProblem(7.5)).toBe('range')
    expect(policyDaysProblem(-3)).toBe('range')
    expect(policyDaysProblem(null)).toBe('required')
    expect(policyDaysProblem(undefined)).toBe('required')
    expect(policyDaysProblem('')).toBe('required')
  })
})

describe('routing rules', () => {
  it('moves a rule up and down, and leaves the list alone at its ends', () => {
    expect(moveRule(['a', 'b', 'c'], 2, -1)).toEqual(['a', 'c', 'b'])
    expect(moveRule(['a', 'b', 'c'], 0, 1)).toEqual(['b', 'a', 'c'])
    expect(moveRule(['a', 'b', 'c'], 0, -1)).toEqual(['a', 'b', 'c'])
    expect(moveRule(['a', 'b', 'c'], 2, 1)).toEqual(['a', 'b', 'c'])
    const list = ['a', 'b']
    moveRule(list, 0, 1)
    expect(list, 'the input is not changed').toEqual(['a', 'b'])
  })

  it('routes as the server: the first matching rule leads, the others collaborate once each', () => {
    // The article's case: legal aid with violence → justice leads, police collaborate.
    expect(previewRoute(['legal_aid', 'violence'], 'low', DEFAULTS, 'justice')).toEqual({ lead: 'justice', collaborators: ['police'], matched: true })
    // A cadre involved comes first, whatever else.
    expect(previewRoute(['violence', 'party_member_or_cadre'], 'low', DEFAULTS, 'justice')).toEqual({ lead: 'discipline', collaborators: ['police'], matched: true })
    // Two rules of one office count once.
    expect(previewRoute(['gang', 'illegal_petitioning', 'violence'], 'low', DEFAULTS, 'justice')).toEqual({ lead: 'police', collaborators: [], matched: true })
  })

  it('counts a high risk as violence', () => {
    expect(previewRoute(['peoples_mediation'], 'high', DEFAULTS, 'justice')).toEqual({ lead: 'justice', collaborators: ['police'], matched: true })
    expect(previewRoute([], 'high', DEFAULTS, 'justice').lead).toBe('police')
  })

  it('falls back when nothing matches, and never makes political-legal a collaborator', () => {
    expect(previewRoute([], 'low', DEFAULTS, 'petitions')).toEqual({ lead: 'petitions', collaborators: [], matched: false })
    const rules: RoutingRuleDto[] = [
      { flag: 'watch', office: 'village' },
      { flag: 'backlog', office: 'political_legal' },
    ]
    expect(previewRoute(['watch', 'backlog'], 'low', rules, 'justice')).toEqual({ lead: 'village', collaborators: [], matched: true })
    expect(previewRoute(['backlog'], 'low', rules, 'justice').lead).toBe('political_legal')
  })

  it('follows the order of the rules, so moving one changes the lead', () => {
    const moved = moveRule(DEFAULTS, DEFAULTS.findIndex((r) => r.flag === 'violence'), -7)
    expect(moved[0]!.flag).toBe('violence')
    expect(previewRoute(['legal_aid', 'violence'], 'low', moved, 'justice')).toEqual({ lead: 'police', collaborators: ['justice'], matched: true })
  })

  it('tells whether the settings changed', () => {
    const policy = { natural_village_days: 7, admin_village_days: 15, town_days: 30, follow_up_days: 30 }
    const a = { policy, routing_rules: DEFAULTS, fallback: 'justice' as const }
    expect(sameSettings(a, { ...a, routing_rules: [...DEFAULTS] })).toBe(true)
    expect(sameSettings(a, { ...a, policy: { ...policy, town_days: 31 } })).toBe(false)
    expect(sameSettings(a, { ...a, fallback: 'police' })).toBe(false)
    expect(sameSettings(a, { ...a, routing_rules: moveRule(DEFAULTS, 0, 1) })).toBe(false)
    expect(sameSettings(a, { ...a, routing_rules: DEFAULTS.slice(1) })).toBe(false)
  })
})

function kase(p: Partial<CaseDetail> = {}): CaseDetail {
  return {
    id: 'c1',
    number: 'SJ-20261201-0001',
    category: { id: 'k1', code: 'neighbour_dispute', name: '邻里纠纷', name_en: 'Neighbour disputes' },
    title: '两户因排水沟争吵',
    description: '东西两户因排水沟走向争吵多日。',
    natural_village: { id: 'nv1', name: '宋家营', code: 'DW-AV01-NV01' },
    admin_village: { id: 'av1', name: '宋家营村', code: 'DW-AV01' },
    lat: 37.7,
    lon: 117.2,
    address: '村东街',
    reporter: { name: '王大爷', phone: '138 1234 5678' },
    ...p,
  } as CaseDetail
}

describe('handing a case over to mediation', () => {
  it('guesses the dispute type from the category code', () => {
    expect(disputeTypeOfCategory('neighbour_dispute')).toBe('neighbour')
    expect(disputeTypeOfCategory('family_dispute')).toBe('family_marriage')
    expect(disputeTypeOfCategory('homestead')).toBe('land_homestead')
    expect(disputeTypeOfCategory('unpaid_wages')).toBe('unpaid_wages')
    expect(disputeTypeOfCategory('road_damage_injury')).toBe('damage_injury')
    expect(disputeTypeOfCategory('dispute')).toBeNull()
    expect(disputeTypeOfCategory(null)).toBeNull()
  })

  it('prefills the form from the case: title, facts, village and point, the reporter as applicant', () => {
    const p = handOverPrefill(kase())
    expect(p).toMatchObject({
      case_id: 'c1',
      case_number: 'SJ-20261201-0001',
      dispute_type: 'neighbour',
      title: '两户因排水沟争吵',
      description: '东西两户因排水沟走向争吵多日。',
      natural_village: { id: 'nv1', name: '宋家营' },
      lat: 37.7,
      lon: 117.2,
      address: '村东街',
      parties: [{ name: '王大爷', phone: '13812345678', side: 'applicant' }],
    })
  })

  it('leaves out what the server would refuse: a masked phone, a point without its village', () => {
    const p = handOverPrefill(kase({ reporter: { name: ' 李四 ', phone: '138****5678' }, natural_village: null, description: '' }))
    expect(p.parties).toEqual([{ name: '李四', phone: '', side: 'applicant' }])
    expect(p.natural_village).toBeNull()
    expect([p.lat, p.lon]).toEqual([null, null])
    expect(handOverPrefill(kase({ reporter: { name: null, phone: null } })).parties).toEqual([])
  })

  it('finds the dispute a case follows in its timeline', () => {
    expect(disputeOfCase([])).toBeNull()
    expect(disputeOfCase([{ action: 'report', data: null }, { action: 'accept', data: { dispute_id: 'x' } }])).toBeNull()
    expect(disputeOfCase([{ action: 'mediation_registered', data: { dispute_id: 'd1', level: 'natural_village' } }, { action: 'urge', data: null }])).toBe('d1')
    expect(disputeOfCase([{ action: 'mediation_registered', data: { dispute_id: 'd1' } }, { action: 'mediation_escalated', data: { dispute_id: 'd1' } }])).toBe('d1')
  })

  it("reads the server's refusal of a hand-over", () => {
    expect(handOverRefusal({ status: 422, code: 'validation_failed', fields: [{ field: 'case_id' }] })).toBe('not_dispute')
    expect(handOverRefusal({ status: 409, code: 'duplicate', fields: [{ field: 'case_id' }] })).toBe('already')
    expect(handOverRefusal({ status: 422, code: 'validation_failed', fields: [{ field: 'title' }] })).toBeNull()
    expect(handOverRefusal({ status: 403, code: 'forbidden', fields: [] })).toBeNull()
    expect(handOverRefusal(null)).toBeNull()
  })
})
